"""Typed wrap/unwrap of contract-based records (§3 of shared/reference/acumatica-api.md).

Callers work with plain Python dicts; on the wire every field is ``{"value": …}``:

* decimals stay :class:`~decimal.Decimal` (responses are parsed with ``parse_float=Decimal``; integer
  JSON numbers of known money/quantity fields become Decimal too);
* datetimes keep the offset the server sent (``datetime.fromisoformat``); nothing is converted to
  local time, because the server's labelling is what later filters must compare against (§9.1);
* ``{}`` (and a missing ``value``) is ``None``;
* linked entities are nested dicts, detail entities lists of dicts, each with its ``id``;
* ``custom`` is ``{"View": {"Field": value}}`` both ways (types inferred on the way out).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = ["dumps", "field_errors", "loads", "unwrap_record", "wrap_record"]

# Decimal-typed contract fields of the entities the connector uses (Appendix A); an integral JSON
# number in one of them (``500``) is still a Decimal for the caller.
DECIMAL_FIELDS = frozenset(
    {
        "Amount",
        "AmountPaid",
        "AverageCost",
        "Balance",
        "CashDiscount",
        "CreditLimit",
        "CurrentStdCost",
        "DefaultPrice",
        "DetailTotal",
        "DimensionVolume",
        "DimensionWeight",
        "DiscountAmount",
        "DiscountPercent",
        "DiscountTotal",
        "FreightPrice",
        "LastCost",
        "MSRP",
        "OpenOrdersBalance",
        "PaymentAmount",
        "PaymentTotal",
        "Qty",
        "QtyOnHand",
        "RemainingCreditLimit",
        "TaxTotal",
        "UnappliedBalance",
        "UnitPrice",
        "UnreleasedBalance",
        "VATExemptTotal",
        "VATTaxableTotal",
        "WriteOffLimit",
    }
)
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_SYSTEM_KEYS = {"id", "rowNumber", "note", "custom", "error", "files", "_links", "delete"}
_CUSTOM_TYPES = {
    bool: "CustomBooleanField",
    int: "CustomIntField",
    Decimal: "CustomDecimalField",
    float: "CustomDoubleField",
    str: "CustomStringField",
    datetime: "CustomDateTimeField",
}


def _is_datetime_field(name: str) -> bool:
    return "Date" in name or name in ("LastModified", "FirstDueDate")


def _typed(name: str, value: Any, kind: str | None = None) -> Any:
    if value is None:
        return None
    decimal_field = kind == "CustomDecimalField" or (
        name in DECIMAL_FIELDS and isinstance(value, int | float)
    )
    if decimal_field and not isinstance(value, bool):
        return Decimal(str(value))
    datetime_field = kind == "CustomDateTimeField" or _is_datetime_field(name)
    if isinstance(value, str) and datetime_field and _ISO_DATETIME.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def _is_value_wrapper(value: Mapping[str, Any]) -> bool:
    return set(value) <= {"value", "error"}


def unwrap_record(wrapped: Mapping[str, Any]) -> dict[str, Any]:
    """A response entity as a plain dict (``id`` kept; ``rowNumber``, ``_links``, ``error`` dropped)."""
    out: dict[str, Any] = {}
    for name, raw in wrapped.items():
        if name == "id":
            out["id"] = raw
        elif name == "note":
            out["note"] = raw.get("value") if isinstance(raw, Mapping) else None
        elif name == "custom":
            out["custom"] = {
                view: {
                    fname: _typed(fname, (cell or {}).get("value"), (cell or {}).get("type"))
                    for fname, cell in (fields or {}).items()
                }
                for view, fields in (raw or {}).items()
            }
        elif name in _SYSTEM_KEYS:
            continue
        elif isinstance(raw, list):
            out[name] = [unwrap_record(row) for row in raw if isinstance(row, Mapping)]
        elif isinstance(raw, Mapping):
            if _is_value_wrapper(raw):
                out[name] = _typed(name, raw.get("value"))
            else:
                out[name] = unwrap_record(raw)
        elif raw is None:
            out[name] = None  # a linked entity that was not loaded (§3.2)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.strftime("%Y-%m-%dT00:00:00")
    if isinstance(value, UUID):
        return str(value)
    return value


def wrap_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict as a request entity: every field wrapped, links nested, details as arrays."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name == "id":
            if value is not None:
                out["id"] = str(value)
        elif name == "delete":
            out["delete"] = bool(value)
        elif name in ("rowNumber", "_links", "error", "files"):
            continue
        elif name == "note":
            out["note"] = {"value": value}
        elif name == "custom":
            out["custom"] = {
                view: {
                    fname: {
                        "type": _CUSTOM_TYPES.get(type(fvalue), "CustomStringField"),
                        "value": _plain(fvalue),
                    }
                    for fname, fvalue in fields.items()
                }
                for view, fields in value.items()
            }
        elif isinstance(value, Mapping):
            out[name] = wrap_record(value)
        elif isinstance(value, list | tuple):
            out[name] = [wrap_record(row) for row in value]
        else:
            out[name] = {"value": _plain(value)}
    return out


def field_errors(wrapped: Any, prefix: str = "") -> dict[str, str]:
    """Every ``error`` in a 422 body, keyed by field path (``Details/0/InventoryID``; ``""`` = record)."""
    found: dict[str, str] = {}
    if not isinstance(wrapped, Mapping):
        return found
    if isinstance(wrapped.get("error"), str):
        found[prefix.rstrip("/")] = wrapped["error"]
    for name, raw in wrapped.items():
        if name in _SYSTEM_KEYS:
            continue
        if isinstance(raw, list):
            for i, row in enumerate(raw):
                found.update(field_errors(row, f"{prefix}{name}/{i}/"))
        elif isinstance(raw, Mapping):
            if _is_value_wrapper(raw):
                if isinstance(raw.get("error"), str):
                    found[f"{prefix}{name}"] = raw["error"]
            else:
                found.update(field_errors(raw, f"{prefix}{name}/"))
    return found


class _DecimalEncoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            # A JSON number when a float holds it exactly, else a numeric string (accepted, §3.2).
            as_float = float(o)
            return as_float if Decimal(repr(as_float)) == o else str(o)
        return super().default(o)


def dumps(body: Any) -> bytes:
    """JSON for a request body; Decimals as numbers."""
    return json.dumps(body, cls=_DecimalEncoder).encode()


def loads(raw: bytes) -> Any:
    """JSON of a response; non-integral numbers as Decimal."""
    return json.loads(raw, parse_float=Decimal)
