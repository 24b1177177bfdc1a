"""SOQL for the sandbox: a lark grammar, a checker against the schema and an evaluator.

Covers what the connector and ordinary clients send (reference §3, §9 item 4): field lists with
parent relationship paths of any depth, child subqueries, ``COUNT()``, WHERE with AND/OR/NOT and
parentheses, ``= != <> < <= > >=``, ``IN``/``NOT IN``, ``LIKE``, ``null``, unquoted date and dateTime
literals, a few relative date literals (``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``,
``NEXT_N_DAYS:n``), escaped string literals (§3.5), ORDER BY with ASC/DESC and NULLS FIRST/LAST,
LIMIT and OFFSET. String comparisons are case-insensitive, as in Salesforce.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ml_connector.sandbox.salesforce._schema import SCHEMA, FieldSpec, ObjectSpec, child_relationships

__all__ = ["ParsedQuery", "QueryError", "evaluate", "format_datetime", "parse_query"]

_GRAMMAR = r"""
start: query
query: _SELECT select_list _FROM NAME where_clause? order_clause? limit_clause? offset_clause?
select_list: _select_item ("," _select_item)*
_select_item: field_path | subquery | count_call
count_call: COUNT "(" ")"
subquery: "(" _SELECT field_list _FROM NAME where_clause? order_clause? limit_clause? ")"
field_list: field_path ("," field_path)*
field_path: NAME ("." NAME)*
where_clause: _WHERE or_expr
or_expr: and_expr (_OR and_expr)*
and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negate
         | "(" or_expr ")"
         | comparison
comparison: field_path COMP_OP value -> compare
          | field_path _IN "(" value ("," value)* ")" -> in_list
          | field_path _NOT _IN "(" value ("," value)* ")" -> not_in_list
          | field_path _LIKE value -> like
value: STRING -> string
     | SIGNED_NUMBER -> number
     | DATETIME -> datetime_value
     | DATE -> date_value
     | TRUE -> true
     | FALSE -> false
     | NULL -> null
     | NAME (":" INT)? -> date_literal
order_clause: _ORDER _BY order_item ("," order_item)*
order_item: field_path DIRECTION? (_NULLS NULLS_POS)?
limit_clause: _LIMIT INT
offset_clause: _OFFSET INT

_SELECT: "select"i
_FROM: "from"i
_WHERE: "where"i
_AND: "and"i
_OR: "or"i
_NOT: "not"i
_IN: "in"i
_LIKE: "like"i
_ORDER: "order"i
_BY: "by"i
_LIMIT: "limit"i
_OFFSET: "offset"i
_NULLS: "nulls"i
COUNT: "count"i
TRUE: "true"i
FALSE: "false"i
NULL: "null"i
DIRECTION: "asc"i | "desc"i
NULLS_POS: "first"i | "last"i
COMP_OP: "=" | "!=" | "<>" | "<=" | ">=" | "<" | ">"
NAME: /[a-z_][a-z0-9_]*/i
STRING: /'(?:[^'\\]|\\.)*'/s
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})/
DATE.2: /\d{4}-\d{2}-\d{2}/
%import common.SIGNED_NUMBER
%import common.INT
%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


class QueryError(Exception):
    """A query the real API refuses; ``code`` is the errorCode (MALFORMED_QUERY, INVALID_FIELD, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- AST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    """A possibly dotted field reference as written, with its source column for error messages."""

    parts: tuple[str, ...]
    column: int

    @property
    def text(self) -> str:
        """The path as written."""
        return ".".join(self.parts)


@dataclass(frozen=True)
class Literal:
    """A value in a WHERE clause; ``kind`` is string/number/boolean/null/date/datetime/relative."""

    kind: str
    value: Any
    raw: str = ""


@dataclass
class SubQuery:
    """``(SELECT … FROM Children …)`` inside the outer field list."""

    fields: list[FieldPath]
    relationship: str
    where: Any = None
    order: list[tuple[FieldPath, bool, bool]] = field(default_factory=list)
    limit: int | None = None


@dataclass
class ParsedQuery:
    """One parsed SOQL statement (not yet checked against the schema)."""

    select: list[FieldPath | SubQuery]
    object_name: str
    object_column: int
    where: Any = None
    order: list[tuple[FieldPath, bool, bool]] = field(default_factory=list)  # (path, descending, nulls_last)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _decode_string(raw: str, *, like: bool) -> str:
    """Decode a quoted SOQL string (§3.5). In LIKE mode ``\\%``/``\\_`` stay escaped for the matcher."""
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt.lower() in _ESCAPES and nxt not in "\"'\\":
            out.append(_ESCAPES[nxt.lower()])
        elif nxt in "\"'\\":
            out.append("\\\\" if (like and nxt == "\\") else nxt)
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 4
        elif like and nxt in "%_":
            out.append("\\" + nxt)
        else:
            # §3.5: "Any other backslash use is an error."
            raise QueryError(
                "MALFORMED_QUERY", f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}'"
            )
        i += 2
    return "".join(out)


@v_args(inline=True)
class _ToAst(Transformer[Token, Any]):
    def start(self, query: ParsedQuery) -> ParsedQuery:
        return query

    def query(self, select: list[Any], name: Token, *clauses: Any) -> ParsedQuery:
        parsed = ParsedQuery(select=[], object_name=str(name), object_column=name.column or 0)
        for item in select:
            if item == "COUNT()":
                parsed.count_only = True
            else:
                parsed.select.append(item)
        for kind, value in clauses:
            setattr(parsed, kind, value)
        return parsed

    def select_list(self, *items: Any) -> list[Any]:
        return list(items)

    def field_list(self, *items: FieldPath) -> list[FieldPath]:
        return list(items)

    def count_call(self, _token: Token) -> str:
        return "COUNT()"

    def subquery(self, fields: list[FieldPath], name: Token, *clauses: Any) -> SubQuery:
        sub = SubQuery(fields=fields, relationship=str(name))
        for kind, value in clauses:
            if kind == "offset":
                raise QueryError("MALFORMED_QUERY", "OFFSET is not allowed in a subquery")
            setattr(sub, kind, value)
        return sub

    def field_path(self, *names: Token) -> FieldPath:
        return FieldPath(tuple(str(n) for n in names), names[0].column or 0)

    def where_clause(self, expr: Any) -> tuple[str, Any]:
        return ("where", expr)

    def or_expr(self, *parts: Any) -> Any:
        return parts[0] if len(parts) == 1 else ("or", list(parts))

    def and_expr(self, *parts: Any) -> Any:
        return parts[0] if len(parts) == 1 else ("and", list(parts))

    def negate(self, inner: Any) -> Any:
        return ("not", inner)

    def compare(self, path: FieldPath, op: Token, value: Literal) -> Any:
        return ("cmp", path, "!=" if str(op) == "<>" else str(op), _plain(value))

    def in_list(self, path: FieldPath, *values: Literal) -> Any:
        return ("in", path, [_plain(v) for v in values], False)

    def not_in_list(self, path: FieldPath, *values: Literal) -> Any:
        return ("in", path, [_plain(v) for v in values], True)

    def like(self, path: FieldPath, value: Literal) -> Any:
        if value.kind != "string":
            raise QueryError("MALFORMED_QUERY", "LIKE needs a string literal")
        return ("like", path, Literal("like", _decode_string(value.raw, like=True), value.raw))

    def string(self, token: Token) -> Literal:
        # Decoded later: the escapes allowed depend on whether the literal is a LIKE pattern (§3.5).
        return Literal("string", None, str(token))

    def number(self, token: Token) -> Literal:
        return Literal("number", float(token), str(token))

    def datetime_value(self, token: Token) -> Literal:
        text = str(token)
        if "." in text:
            # UNVERIFIED (reference §3.4): fractional seconds are not in the documented literal formats;
            # the sandbox refuses them so the connector keeps emitting whole seconds.
            raise QueryError(
                "MALFORMED_QUERY", f"line 1:{token.column} no viable alternative at character '.' in {text}"
            )
        return Literal("datetime", datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC), text)

    def date_value(self, token: Token) -> Literal:
        return Literal("date", date.fromisoformat(str(token)), str(token))

    def true(self, _token: Token) -> Literal:
        return Literal("boolean", True, "true")

    def false(self, _token: Token) -> Literal:
        return Literal("boolean", False, "false")

    def null(self, _token: Token) -> Literal:
        return Literal("null", None, "null")

    def date_literal(self, name: Token, amount: Token | None = None) -> Literal:
        key = str(name).upper()
        if key not in _RELATIVE or (amount is None) != (key in {"TODAY", "YESTERDAY", "TOMORROW"}):
            raise QueryError("MALFORMED_QUERY", f"unexpected token: '{name}'")
        return Literal("relative", (key, int(amount) if amount is not None else 0), str(name))

    def order_clause(self, *items: tuple[FieldPath, bool, bool]) -> tuple[str, Any]:
        return ("order", list(items))

    def order_item(self, path: FieldPath, *rest: Token) -> tuple[FieldPath, bool, bool]:
        descending = any(t.type == "DIRECTION" and str(t).lower() == "desc" for t in rest)
        nulls = [str(t).lower() for t in rest if t.type == "NULLS_POS"]
        # SOQL default: ASC → NULLS FIRST, DESC → NULLS LAST.
        nulls_last = nulls[0] == "last" if nulls else descending
        return (path, descending, nulls_last)

    def limit_clause(self, token: Token) -> tuple[str, int]:
        return ("limit", int(token))

    def offset_clause(self, token: Token) -> tuple[str, int]:
        return ("offset", int(token))


def _plain(literal: Literal) -> Literal:
    """A string literal outside LIKE, decoded with the ordinary escapes."""
    if literal.kind != "string":
        return literal
    return Literal("string", _decode_string(literal.raw, like=False), literal.raw)


_RELATIVE = {"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"}


def parse_query(soql: str) -> ParsedQuery:
    """Parse ``soql`` or raise :class:`QueryError` with the MALFORMED_QUERY message of §3.6."""
    try:
        tree = _PARSER.parse(soql)
    except UnexpectedToken as exc:
        shown = "<EOF>" if exc.token.type == "$END" else str(exc.token)
        raise QueryError("MALFORMED_QUERY", _echo(soql, exc, f"unexpected token: '{shown}'")) from None
    except UnexpectedCharacters as exc:
        raise QueryError("MALFORMED_QUERY", _echo(soql, exc, f"unexpected token: '{exc.char}'")) from None
    except UnexpectedEOF as exc:
        raise QueryError("MALFORMED_QUERY", _echo(soql, exc, "unexpected token: '<EOF>'")) from None
    try:
        result: ParsedQuery = _ToAst().transform(tree)
    except Exception as exc:  # lark wraps transformer errors in VisitError
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, QueryError):
            raise inner from None
        raise
    return result


def _echo(soql: str, exc: UnexpectedInput, message: str) -> str:
    column = getattr(exc, "column", 0) or 0
    return _with_caret(soql, column, message)


def _with_caret(soql: str, column: int, message: str) -> str:
    """The long error form of §3.6: the SOQL echoed, a caret line, ``ERROR at Row:1:Column:n``."""
    line = soql.replace("\n", " ")
    return f"\n{line}\n{' ' * max(column - 1, 0)}^\nERROR at Row:1:Column:{column}\n{message}"


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
                _with_caret(
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
            _with_caret(
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
            _with_caret(
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
            _with_caret(
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
            _with_caret(
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
        wanted = {_fold(lit.value) for lit in node[2]}
        negated = node[3]
        return lambda r: (_fold(_value_at(r, resolved, ctx)) in wanted) != negated
    _, _path, op, literal = node
    _check_literal(resolved, literal, ctx.soql)
    if literal.kind == "relative":
        return _relative_predicate(resolved, op, literal, ctx)
    target = _fold(literal.value)
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
    kids = [
        r
        for r in ctx.rows(child.name, ctx.include_deleted)
        if r.get(rel.field) == row["Id"] and (where is None or where(r))
    ]
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
