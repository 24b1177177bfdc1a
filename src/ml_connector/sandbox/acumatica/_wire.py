"""The wire format of the contract-based API: value wrapping in and out, error bodies, time zones.

Record shape (§3 of shared/reference/acumatica-api.md): system fields ``id``/``rowNumber`` bare,
``note`` wrapped, every contract field ``{"value": …}``, nulls as ``{}``, linked entities as objects
and detail entities as arrays (only with ``$expand``), ``custom`` and ``_links`` last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import JSONResponse

from ._entities import DATETIME_AUDIT_FIELDS, ENTITIES, EntitySchema, FieldSpec

__all__ = [
    "DATE_ONLY_FIELDS",
    "BadRequest",
    "Patch",
    "RenderOptions",
    "ServerTime",
    "acu_json",
    "http_error",
    "key_not_found",
    "no_entity",
    "parse_patch",
    "parse_tree",
    "render_record",
]

# Date-only DateTime fields come back as midnight "+00:00" (§3.2).
DATE_ONLY_FIELDS = frozenset({"Date", "DueDate", "ApplicationDate", "FirstDueDate", "ExpirationDate"})


class BadRequest(Exception):
    """A body the API refuses before business logic runs (400 with ``modelState``)."""

    def __init__(self, message: str, model_state: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.model_state = model_state


@dataclass
class Patch:
    """A request entity after unwrapping: plain field values, links, and the system extras."""

    values: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Patch] = field(default_factory=dict)
    details: dict[str, list[Patch]] = field(default_factory=dict)
    id: str | None = None
    delete: bool = False
    note: str | None = None
    custom: dict[str, dict[str, tuple[str, Any]]] = field(default_factory=dict)


class ServerTime:
    """How the fake shows and compares datetimes in its configured server time zone.

    §9 pitfall 1 is unresolved in the sources, so both readings are available:

    * ``label_local_as_utc=True`` (default): audit timestamps (``LastModifiedDateTime`` …) are the
      server's wall-clock time labelled ``+00:00`` and the offset of a ``datetimeoffset`` filter literal
      is ignored, its wall-clock part is compared with the server's wall clock (what MON's
      ``ToAcumaticaTimeZone`` conversion implies for older builds). With ``America/New_York`` every
      value therefore looks 4-5 hours "early" to a client that trusts the label.
    * ``label_local_as_utc=False``: values carry the true server-zone offset and filter offsets are
      honoured (what the docs' examples with ``+03:00`` literals imply).

    With ``server_timezone="UTC"`` both readings coincide.
    """

    def __init__(self, server_timezone: str = "America/New_York", *, label_local_as_utc: bool = True) -> None:
        self.zone = ZoneInfo(server_timezone)
        self.label_local_as_utc = label_local_as_utc

    def field_view(self, name: str, value: datetime) -> datetime:
        """The comparable form of a stored (aware UTC) datetime of field ``name``."""
        if name in DATETIME_AUDIT_FIELDS:
            local = value.astimezone(self.zone)
            return local.replace(tzinfo=None) if self.label_local_as_utc else local
        return value.replace(tzinfo=None) if self.label_local_as_utc else value

    def literal_view(self, value: datetime) -> datetime:
        """The comparable form of a filter literal."""
        if self.label_local_as_utc:
            return value.replace(tzinfo=None)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def render(self, name: str, value: datetime) -> str:
        """A stored datetime as the API prints it."""
        if name in DATE_ONLY_FIELDS:
            return value.strftime("%Y-%m-%dT00:00:00+00:00")
        shown = self.field_view(name, value)
        if shown.tzinfo is None:
            return shown.isoformat(timespec="milliseconds") + "+00:00"
        return shown.isoformat(timespec="milliseconds")

    def parse(self, name: str, text: str) -> datetime:
        """A request datetime: naive values are server-local for audit fields, else UTC."""
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if name in DATE_ONLY_FIELDS:
            return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


# --- request side -------------------------------------------------------------------------------

_VALUE_TYPES = {
    "String": "StringValue",
    "Int": "IntValue",
    "Short": "ShortValue",
    "Decimal": "DecimalValue",
    "Boolean": "BooleanValue",
    "DateTime": "DateTimeValue",
    "Guid": "GuidValue",
}


def _refuse(path: str, raw: Any, kind: str) -> BadRequest:
    # The real response to an unwrapped value is not in the reference. ASP.NET Web API refuses a body
    # that does not bind to the contract model with 400 and ``modelState`` (the HttpError schema of
    # §4.3 has it), with a JSON.NET conversion message; this fake answers the same way [assumption].
    message = (
        f"Error converting value {raw!r} to type 'PX.Api.ContractBased.Models.{_VALUE_TYPES.get(kind, kind)}'. "
        f"Path '{path}'."
    )
    return BadRequest("The request is invalid.", {f"entity.{path}": [message]})


def _convert(spec: FieldSpec, raw: Any, path: str, clock: ServerTime) -> Any:
    if raw is None:
        return None
    kind = spec.kind
    try:
        if kind == "String":
            return raw if isinstance(raw, str) else str(raw)
        if kind in ("Int", "Short"):
            if isinstance(raw, bool):
                raise ValueError
            return int(Decimal(str(raw)))
        if kind == "Decimal":
            # Numbers and numeric strings are both accepted (§3.2, PC request asserts).
            if isinstance(raw, bool):
                raise ValueError
            return Decimal(str(raw))
        if kind == "Boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise ValueError
        if kind == "DateTime":
            return clock.parse(spec.name, str(raw))
        if kind == "Guid":
            return str(raw).lower()
    except (ValueError, InvalidOperation, TypeError):
        raise _refuse(path, raw, kind) from None
    return raw


def parse_patch(schema: EntitySchema, version: str, body: Any, clock: ServerTime, path: str = "") -> Patch:
    """Unwrap a request entity, refusing unwrapped values; unknown field names are ignored (§3.5)."""
    if not isinstance(body, Mapping):
        raise BadRequest("The request is invalid.", {path or "entity": ["An entity object is expected."]})
    patch = Patch()
    for name, raw in body.items():
        where = f"{path}.{name}" if path else name
        if name == "id":
            patch.id = str(raw).lower() if raw else None
        elif name == "delete":
            patch.delete = bool(raw)
        elif name == "note":
            if raw is None:
                continue
            if not isinstance(raw, Mapping):
                raise _refuse(where, raw, "String")
            patch.note = raw.get("value")
        elif name == "custom":
            patch.custom = _parse_custom(raw, where)
        elif (spec := schema.field(name, version)) is not None:
            if not isinstance(raw, Mapping):
                raise _refuse(where, raw, spec.kind)
            if "value" in raw:
                patch.values[name] = _convert(spec, raw["value"], where, clock)
        elif (link := schema.link(name, version)) is not None:
            sub = ENTITIES[link.schema]
            if link.detail:
                if not isinstance(raw, list):
                    raise BadRequest(
                        "The request is invalid.", {f"entity.{where}": ["An array is expected."]}
                    )
                patch.details[name] = [
                    parse_patch(sub, version, row, clock, f"{where}[{i}]") for i, row in enumerate(raw)
                ]
            elif raw is not None:
                patch.links[name] = parse_patch(sub, version, raw, clock, where)
        # rowNumber, error, files, _links and unknown names: ignored
    return patch


def _parse_custom(raw: Any, where: str) -> dict[str, dict[str, tuple[str, Any]]]:
    if not isinstance(raw, Mapping):
        raise BadRequest("The request is invalid.", {f"entity.{where}": ["An object is expected."]})
    out: dict[str, dict[str, tuple[str, Any]]] = {}
    for view, fields_ in raw.items():
        if not isinstance(fields_, Mapping):
            continue
        for name, wrapped in fields_.items():
            if not isinstance(wrapped, Mapping):
                raise _refuse(f"{where}.{view}.{name}", wrapped, "CustomField")
            value = wrapped.get("value")
            kind = str(wrapped.get("type", "CustomStringField"))
            if kind == "CustomDecimalField" and value is not None:
                value = Decimal(str(value))
            out.setdefault(view, {})[name] = (kind, value)
    return out


def parse_tree(text: str | None) -> dict[str, Any] | None:
    """``"A,B/C,B/D"`` -> ``{"A": {}, "B": {"C": {}, "D": {}}}`` (``$expand``/``$select`` paths)."""
    if text is None:
        return None
    tree: dict[str, Any] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        node = tree
        for part in item.split("/"):
            node = node.setdefault(part.strip(), {})
    return tree


# --- response side ------------------------------------------------------------------------------


@dataclass
class RenderOptions:
    """What a response includes: ``$expand``/``$select``/``$custom`` and where ``_links`` point."""

    version: str
    entity_base: str  # e.g. "/AcumaticaERP/entity/Default/24.200.001"
    clock: ServerTime
    expand: dict[str, Any] = field(default_factory=dict)
    select: dict[str, Any] | None = None
    custom: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    custom_value: Callable[[Mapping[str, Any], str, str], tuple[str, Any] | None] | None = None


def _wrap(spec: FieldSpec, value: Any, clock: ServerTime) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, datetime):
        return {"value": clock.render(spec.name, value)}
    if isinstance(value, date):
        return {"value": value.strftime("%Y-%m-%dT00:00:00+00:00")}
    return {"value": value}


def render_record(
    schema: EntitySchema,
    record: Mapping[str, Any],
    options: RenderOptions,
    *,
    row_number: int = 1,
    kind: str = "top",  # "top" | "linked" | "detail"
    expand: dict[str, Any] | None = None,
    select: dict[str, Any] | None = None,
    error_prefix: str = "",
    detail_view: str = "",
    detail_graph: str = "",
) -> dict[str, Any]:
    """Render one stored record (already materialised by the store) in the wire shape of §3/§10."""
    expand = options.expand if kind == "top" and expand is None else (expand or {})
    select = options.select if kind == "top" and select is None else select
    out: dict[str, Any] = {"id": record["id"], "rowNumber": row_number}
    out["note"] = None if kind == "linked" else {"value": record.get("note") or ""}
    if error_prefix.rstrip("/") in options.errors:
        out["error"] = options.errors[error_prefix.rstrip("/")]
    items: list[tuple[str, Any]] = []
    for spec in schema.fields_for(options.version):
        if select is not None and spec.name not in select:
            continue
        wrapped = _wrap(spec, record.get(spec.name), options.clock)
        message = options.errors.get(f"{error_prefix}{spec.name}")
        if message:
            wrapped = {**wrapped, "error": message}
        items.append((spec.name, wrapped))
    for link in schema.links_for(options.version):
        if link.name not in expand:
            continue
        sub = ENTITIES[link.schema]
        sub_select = select.get(link.name) if select is not None and select.get(link.name) else None
        if link.detail:
            rows = record.get(link.name) or []
            view = "Transactions" if schema.name == "SalesInvoice" else link.name
            items.append(
                (
                    link.name,
                    [
                        render_record(
                            sub,
                            row,
                            options,
                            row_number=i + 1,
                            kind="detail",
                            expand=expand[link.name],
                            select=sub_select,
                            error_prefix=f"{error_prefix}{link.name}/{i}/",
                            detail_view=view,
                            detail_graph=schema.graph,
                        )
                        for i, row in enumerate(rows)
                    ],
                )
            )
        else:
            linked = record.get(link.name)
            if linked is not None:
                items.append(
                    (
                        link.name,
                        render_record(
                            sub,
                            linked,
                            options,
                            kind="linked",
                            expand=expand[link.name],
                            select=sub_select,
                            error_prefix=f"{error_prefix}{link.name}/",
                        ),
                    )
                )
    items.sort(key=lambda item: item[0].lower())
    out.update(items)
    custom: dict[str, dict[str, Any]] = {}
    if kind == "top":
        for view, name in options.custom:
            found = options.custom_value(record, view, name) if options.custom_value else None
            if found is not None:
                ctype, value = found
                if isinstance(value, datetime):
                    value = value.isoformat()
                custom.setdefault(view, {})[name] = {"type": ctype, "value": value}
    out["custom"] = custom
    rid = record["id"]
    if kind == "top":
        out["_links"] = {
            "self": f"{options.entity_base}/{schema.name}/{rid}",
            "files:put": f"{options.entity_base}/files/{schema.graph}/{schema.view}/{rid}/{{filename}}",
        }
    elif kind == "detail" and detail_view:
        # Detail rows carry only files:put, on the parent's graph (e.g. SOInvoiceEntry/Transactions, §3.2).
        out["_links"] = {
            "files:put": f"{options.entity_base}/files/{detail_graph}/{detail_view}/{rid}/{{filename}}"
        }
    return out


# --- error bodies (§4.3) ------------------------------------------------------------------------


def acu_json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A JSON response; Decimals become JSON numbers."""
    return JSONResponse(_jsonable(body), status_code=status, headers=dict(headers or {}))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # the API writes decimals as JSON numbers: 540.0, 4.98 (§3.2)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def http_error(
    status: int,
    message: str,
    *,
    exception_message: str | None = None,
    exception_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The ``HttpError`` body of §4.3."""
    body: dict[str, Any] = {"message": message}
    if exception_message is not None:
        body["exceptionMessage"] = exception_message
        body["exceptionType"] = exception_type
        body["stackTrace"] = "   at PX.Api.ContractBased.EntityService (sandbox)"
    return acu_json(body, status, headers)


def no_entity() -> JSONResponse:
    """GET by key of a missing record: 500, not 404 (§4.4, §9 pitfall 3)."""
    return http_error(
        500,
        "An error has occurred.",
        exception_message="No entity satisfies the condition.",
        exception_type="PX.Api.ContractBased.NoEntitySatisfiesTheConditionException",
    )


def key_not_found(name: str) -> JSONResponse:
    """Unknown ``$select``/``$expand``/``$custom`` name: 500 KeyNotFoundException (§3.5, [Obs: FG])."""
    return http_error(
        500,
        "An error has occurred.",
        exception_message=f"The given key '{name}' was not present in the dictionary.",
        exception_type="System.Collections.Generic.KeyNotFoundException",
    )
