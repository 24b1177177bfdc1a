"""SOQL for the sandbox, part two: checking a parsed query against the schema and evaluating it.

Parent paths resolve through reference fields (``PricebookEntry.Product2.ERP_Item_No__c``); child
subqueries through the child relationships of the schema. Literals must fit the field's type, as in
Salesforce (a quoted dateTime is an INVALID_FIELD error). Results are serialised the REST way:
``attributes`` on every record, parents nested (or null), child subqueries as ``{totalSize, done,
records}`` (or null when empty), dateTimes as ``2021-11-06T17:38:40.000+0000``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ml_connector.sandbox.salesforce._ids import is_valid_id, to_18
from ml_connector.sandbox.salesforce._schema import SCHEMA, FieldSpec, ObjectSpec, child_relationships
from ml_connector.sandbox.salesforce._soql_parse import (
    FieldPath,
    Literal,
    ParsedQuery,
    QueryError,
    SubQuery,
    parse_query,
    with_caret,
)

__all__ = ["ParsedQuery", "QueryError", "evaluate", "format_datetime", "parse_query", "to_json_value"]

# --- evaluation -----------------------------------------------------------------------------------

RowSource = Callable[[str, bool], Iterable[dict[str, Any]]]  # (object, include_deleted) -> rows
RowLookup = Callable[[str, str], dict[str, Any] | None]  # (object, id) -> row


def format_datetime(value: datetime) -> str:
    """REST dateTime format: ``2021-11-06T17:38:40.000+0000`` (§2.3)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def to_json_value(value: Any) -> Any:
    """A stored value as the REST API prints it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class _Resolved:
    """A field path checked against the schema: relationship hops and the final field."""

    path: FieldPath
    hops: list[tuple[FieldSpec, str]]  # (reference field, target object)
    field: FieldSpec
    names: list[str]  # canonical spelling of each part


def _resolve(obj: ObjectSpec, path: FieldPath, soql: str) -> _Resolved:
    hops: list[tuple[FieldSpec, str]] = []
    names: list[str] = []
    current = obj
    for part in path.parts[:-1]:
        ref = current.relationship_ci(part)
        if ref is None or ref.reference_to not in SCHEMA:
            raise QueryError(
                "INVALID_FIELD",
                with_caret(
                    soql,
                    path.column,
                    f"Didn't understand relationship '{part}' in field path. If you are attempting to use a "
                    "custom relationship, be sure to append the '__r' after the custom relationship name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                ),
            )
        hops.append((ref, ref.reference_to))
        names.append(ref.relationship_name or part)
        current = SCHEMA[ref.reference_to]
    final = current.field_ci(path.parts[-1])
    if final is None:
        raise QueryError(
            "INVALID_FIELD",
            with_caret(
                soql,
                path.column,
                f"No such column '{path.parts[-1]}' on entity '{current.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            ),
        )
    names.append(final.name)
    return _Resolved(path, hops, final, names)


_TEXTUAL = {"id", "reference", "string", "textarea", "picklist", "phone", "url", "email"}
_NUMERIC = {"double", "currency"}


def _check_literal(resolved: _Resolved, literal: Literal, soql: str) -> None:
    """Salesforce refuses a literal of the wrong type for the field (e.g. a quoted dateTime)."""
    ftype, kind = resolved.field.type, literal.kind
    ok = (
        kind == "null"
        or (ftype in _TEXTUAL and kind in {"string", "like"})
        or (ftype in _NUMERIC and kind == "number")
        or (ftype == "boolean" and kind == "boolean")
        or (ftype == "date" and kind in {"date", "relative"})
        or (ftype == "datetime" and kind in {"datetime", "relative"})
    )
    if not ok:
        expected = {"datetime": "dateTime", "double": "double", "currency": "double"}.get(ftype, ftype)
        if ftype in _TEXTUAL:
            expected = "string"
        quoted = " and should not be enclosed in quotes" if kind == "string" else ""
        raise QueryError(
            "INVALID_FIELD",
            with_caret(
                soql,
                resolved.path.column,
                f"value of filter criterion for field '{resolved.path.parts[-1]}' must be of type {expected}{quoted}",
            ),
        )


@dataclass
class _Context:
    soql: str
    rows: RowSource
    lookup: RowLookup
    now: datetime
    include_deleted: bool
    version: str
    children_by_parent: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def children(self, child_object: str, parent_field: str, parent_id: str) -> list[dict[str, Any]]:
        """Child rows of one parent, grouped once per query (a subquery per row stays linear)."""
        key = (child_object, parent_field)
        if key not in self.children_by_parent:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for child in self.rows(child_object, self.include_deleted):
                if child.get(parent_field):
                    grouped.setdefault(child[parent_field], []).append(child)
            self.children_by_parent[key] = grouped
        return self.children_by_parent[key].get(parent_id, [])


def evaluate(
    query: ParsedQuery,
    soql: str,
    *,
    rows: RowSource,
    lookup: RowLookup,
    now: datetime,
    include_deleted: bool,
    version: str,
) -> tuple[int, list[dict[str, Any]]]:
    """Run a parsed query: ``(totalSize, serialized records)`` (records empty for ``COUNT()``)."""
    obj = SCHEMA.get(query.object_name) or next(
        (o for n, o in SCHEMA.items() if n.lower() == query.object_name.lower()), None
    )
    if obj is None:
        raise QueryError(
            "INVALID_TYPE",
            with_caret(
                soql,
                query.object_column,
                f"sObject type '{query.object_name}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or the "
                "describe call for the appropriate names.",
            ),
        )
    ctx = _Context(soql, rows, lookup, now, include_deleted, version)
    if not query.select and not query.count_only:
        raise QueryError("MALFORMED_QUERY", "unexpected token: 'FROM'")
    selected: list[_Resolved | tuple[SubQuery, Any]] = []
    for item in query.select:
        if isinstance(item, SubQuery):
            selected.append((item, _prepare_subquery(obj, item, soql)))
        else:
            selected.append(_resolve(obj, item, soql))
    where = _compile(obj, query.where, ctx) if query.where is not None else None
    order = [(_resolve(obj, p, soql), desc, nl) for p, desc, nl in query.order]
    matched = [r for r in rows(obj.name, include_deleted) if where is None or where(r)]
    matched = _sort(matched, order, ctx)
    if query.offset:
        matched = matched[query.offset :]
    if query.limit is not None:
        matched = matched[: query.limit]
    if query.count_only:
        return len(matched), []
    return len(matched), [_serialize(obj, r, selected, ctx) for r in matched]


def _prepare_subquery(parent: ObjectSpec, sub: SubQuery, soql: str) -> Any:
    rel = next(
        (c for c in child_relationships(parent.name) if c.name.lower() == sub.relationship.lower()), None
    )
    if rel is None:
        raise QueryError(
            "INVALID_TYPE",
            with_caret(
                soql,
                0,
                f"Didn't understand relationship '{sub.relationship}' in FROM part of query call. If you are "
                "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the appropriate names.",
            ),
        )
    child = SCHEMA[rel.child_object]
    fields = [_resolve(child, p, soql) for p in sub.fields]
    order = [(_resolve(child, p, soql), desc, nl) for p, desc, nl in sub.order]
    return (rel, child, fields, order)


def _value_at(row: dict[str, Any] | None, resolved: _Resolved, ctx: _Context) -> Any:
    for ref, target in resolved.hops:
        if row is None:
            return None
        parent_id = row.get(ref.name)
        row = ctx.lookup(target, parent_id) if parent_id else None
    return None if row is None else row.get(resolved.field.name)


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _day_range(literal: Literal, now: datetime) -> tuple[date, date]:
    key, amount = literal.value
    today = now.astimezone(UTC).date()
    if key == "TODAY":
        return today, today + timedelta(days=1)
    if key == "YESTERDAY":
        return today - timedelta(days=1), today
    if key == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    if key == "LAST_N_DAYS":  # today and the n-1 days before it... plus today, as Salesforce counts
        return today - timedelta(days=amount), today + timedelta(days=1)
    return today, today + timedelta(days=amount + 1)  # NEXT_N_DAYS: today through today + n


def _id_form(resolved: _Resolved, value: Any) -> Any:
    """Ids may be written with 15 characters; stored ids have 18 (compared case-insensitively)."""
    if resolved.field.type in {"id", "reference"} and isinstance(value, str) and len(value) == 15:
        return to_18(value) if is_valid_id(value) else value
    return value


def _compile(obj: ObjectSpec, node: Any, ctx: _Context) -> Callable[[dict[str, Any]], bool]:
    kind = node[0]
    if kind in {"and", "or"}:
        parts = [_compile(obj, n, ctx) for n in node[1]]
        if kind == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if kind == "not":
        inner = _compile(obj, node[1], ctx)
        return lambda r: not inner(r)
    resolved = _resolve(obj, node[1], ctx.soql)
    if kind == "like":
        _check_literal(resolved, node[2], ctx.soql)
        pattern = _like_regex(node[2].value)
        return lambda r: (
            isinstance(v := _value_at(r, resolved, ctx), str) and pattern.fullmatch(v) is not None
        )
    if kind == "in":
        for lit in node[2]:
            _check_literal(resolved, lit, ctx.soql)
        wanted = {_fold(_id_form(resolved, lit.value)) for lit in node[2]}
        negated = node[3]
        return lambda r: (_fold(_value_at(r, resolved, ctx)) in wanted) != negated
    _, _path, op, literal = node
    _check_literal(resolved, literal, ctx.soql)
    if literal.kind == "relative":
        return _relative_predicate(resolved, op, literal, ctx)
    target = _fold(_id_form(resolved, literal.value))
    is_datetime = resolved.field.type == "datetime"

    def predicate(row: dict[str, Any]) -> bool:
        value = _fold(_value_at(row, resolved, ctx))
        if is_datetime and isinstance(value, datetime):
            value = value.replace(microsecond=0)  # literals have whole seconds; compare at that precision
        if op == "=":
            return bool(value == target)
        if op == "!=":
            return bool(value != target)
        if value is None or target is None:
            return False
        return _ORDERING[op](value, target)

    return predicate


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _relative_predicate(
    resolved: _Resolved, op: str, literal: Literal, ctx: _Context
) -> Callable[[dict[str, Any]], bool]:
    start, end = _day_range(literal, ctx.now)

    def as_day(value: Any) -> date | None:
        if isinstance(value, datetime):
            return value.astimezone(UTC).date()
        return value if isinstance(value, date) else None

    def predicate(row: dict[str, Any]) -> bool:
        day = as_day(_value_at(row, resolved, ctx))
        if day is None:
            return op == "!="
        inside = start <= day < end
        return {
            "=": inside,
            "!=": not inside,
            "<": day < start,
            "<=": day < end,
            ">": day >= end,
            ">=": day >= start,
        }[op]

    return predicate


def _like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _sort(
    rows: list[dict[str, Any]], order: list[tuple[_Resolved, bool, bool]], ctx: _Context
) -> list[dict[str, Any]]:
    # Stable multi-key sort: apply keys from the last to the first.
    for resolved, descending, nulls_last in reversed(order):
        present = [r for r in rows if _value_at(r, resolved, ctx) is not None]
        missing = [r for r in rows if _value_at(r, resolved, ctx) is None]
        present.sort(key=lambda r, res=resolved: _fold(_value_at(r, res, ctx)), reverse=descending)  # type: ignore[misc]
        rows = present + missing if nulls_last else missing + present
    return rows


def _attributes(object_name: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": object_name, "url": f"/services/data/v{version}/sobjects/{object_name}/{record_id}"}


def _serialize(
    obj: ObjectSpec, row: dict[str, Any], selected: list[_Resolved | tuple[SubQuery, Any]], ctx: _Context
) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": _attributes(obj.name, row["Id"], ctx.version)}
    for item in selected:
        if isinstance(item, tuple):
            sub, (rel, child, fields, order) = item
            out[rel.name] = _children(row, sub, rel, child, fields, order, ctx)
        else:
            _place(out, row, item, ctx)
    return out


def _place(out: dict[str, Any], row: dict[str, Any], resolved: _Resolved, ctx: _Context) -> None:
    """Put a (possibly nested) field into ``out``: parents come back as nested objects or null."""
    target, current = out, row
    for (ref, obj_name), name in zip(resolved.hops, resolved.names, strict=False):
        parent_id = current.get(ref.name) if current is not None else None
        parent = ctx.lookup(obj_name, parent_id) if parent_id else None
        if parent is None:
            target.setdefault(name, None)
            return
        nested = target.get(name)
        if nested is None:
            nested = {"attributes": _attributes(obj_name, parent["Id"], ctx.version)}
            target[name] = nested
        target, current = nested, parent
    target[resolved.names[-1]] = to_json_value(current.get(resolved.field.name))


def _children(
    row: dict[str, Any],
    sub: SubQuery,
    rel: Any,
    child: ObjectSpec,
    fields: list[_Resolved],
    order: list[tuple[_Resolved, bool, bool]],
    ctx: _Context,
) -> dict[str, Any] | None:
    where = _compile(child, sub.where, ctx) if sub.where is not None else None
    kids = [r for r in ctx.children(child.name, rel.field, row["Id"]) if where is None or where(r)]
    kids = _sort(kids, order, ctx)
    if sub.limit is not None:
        kids = kids[: sub.limit]
    if not kids:
        return None  # Salesforce returns null, not an empty result, for a child subquery without rows
    records = []
    for kid in kids:
        rec: dict[str, Any] = {"attributes": _attributes(child.name, kid["Id"], ctx.version)}
        for resolved in fields:
            _place(rec, kid, resolved, ctx)
        records.append(rec)
    return {"totalSize": len(records), "done": True, "records": records}


def midnight(day: date) -> datetime:
    """Start of ``day`` in UTC (the sandbox's org and user time zone)."""
    return datetime.combine(day, time(0), tzinfo=UTC)
