"""Avro schemas of the sandbox's change events (reference salesforce-api.md §6.6, §6.7).

One record schema per entity (``AccountChangeEvent`` …) in namespace ``com.sforce.eventbus``: the
``ChangeEventHeader`` record first, then the entity's fields as ``["null", <type>]`` unions with a
null default. Compound fields are nested records as on the real bus: ``BillingStreet`` travels as
``BillingAddress.Street``, a Contact's name parts as ``Name.FirstName`` (§6.6). ``IsDeleted``,
``SystemModstamp`` and ``Id`` (the id is in the header) are never body fields (§6.7).

:class:`EventSchema` also knows where each sandbox field sits, to build the bitmaps of §6.7:
element 0 ``"0x…"`` over the top-level field positions (bit i = field i, least significant bit
first), then ``"<parentPos>-0x…"`` over the children of a compound field.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = ["CHANGE_TYPES", "EntityField", "EventSchema", "build_event_schema"]

# §6.7 changeType values. UNVERIFIED (§6.6, §10): the Avro enum's type name and symbol order; we use
# name "ChangeType" and the order the reference lists the values in.
CHANGE_TYPES: tuple[str, ...] = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
)

_NAMESPACE = "com.sforce.eventbus"
_NEVER_IN_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp"})

# Sandbox field name → (compound field, child name). Address children as on the real Address type
# (the sandbox org has no Latitude/Longitude/GeocodeAccuracy); Contact Name parts as the real Name.
_ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country")
_NAME_PARTS = ("Salutation", "FirstName", "LastName")


@dataclass(frozen=True)
class EntityField:
    """One field of an entity as the REST sandbox describes it (name and describe type)."""

    name: str
    type: str


def _compound_of(entity: str, field_name: str) -> tuple[str, str] | None:
    for prefix in ("Billing", "Shipping", "Mailing", "Other"):
        for part in _ADDRESS_PARTS:
            if field_name == prefix + part:
                return f"{prefix}Address", part
    if entity == "Contact" and field_name in _NAME_PARTS:
        return "Name", field_name
    return None


def _avro_type(describe_type: str) -> str:
    if describe_type == "boolean":
        return "boolean"
    if describe_type in {"double", "currency", "percent"}:
        return "double"
    if describe_type == "datetime":
        return "long"  # §6.6: dateTime values are epoch milliseconds
    if describe_type == "date":
        # UNVERIFIED (§6.6 names only dateTime): a date travels as days since 1970-01-01 (Avro int).
        return "int"
    return "string"


def _doc_type(describe_type: str) -> str:
    return {"datetime": "DateTime", "date": "Date", "boolean": "Boolean", "currency": "Currency"}.get(
        describe_type, describe_type.capitalize()
    )


def _header_schema() -> dict[str, Any]:
    bitmap = {"type": "array", "items": "string"}
    return {
        "type": "record",
        "name": "ChangeEventHeader",
        "namespace": _NAMESPACE,
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": {"type": "array", "items": "string"}},
            {
                "name": "changeType",
                "type": {"type": "enum", "name": "ChangeType", "symbols": list(CHANGE_TYPES)},
            },
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": bitmap},
            {"name": "diffFields", "type": bitmap},
            {"name": "changedFields", "type": bitmap},
        ],
    }


def _schema_id(schema: Mapping[str, Any]) -> str:
    """A fingerprint like the real ids (22 url-safe base64 characters of a 16-byte digest)."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()[:16]).decode().rstrip("=")


class EventSchema:
    """The Avro schema of one entity's change event and the field positions behind its bitmaps."""

    def __init__(self, entity: str, fields: Iterable[EntityField]) -> None:
        self.entity = entity
        self.event_name = f"{entity}ChangeEvent"
        # top-level layout: list of (avro name, [(sandbox field, child name | None), ...])
        self._top: list[tuple[str, list[tuple[str, str | None]], str]] = []
        index: dict[str, int] = {}
        for spec in fields:
            if spec.name in _NEVER_IN_EVENTS or (entity == "Contact" and spec.name == "Name"):
                continue  # Contact.Name is the compound of its parts, not the calculated string
            compound = _compound_of(entity, spec.name)
            if compound is None:
                index[spec.name] = len(self._top)
                self._top.append((spec.name, [(spec.name, None)], spec.type))
                continue
            parent, child = compound
            if parent not in index:
                index[parent] = len(self._top)
                self._top.append((parent, [], "compound"))
            self._top[index[parent]][1].append((spec.name, child))
        # sandbox field → (top position (1-based: 0 is the header), child position or None)
        self.positions: dict[str, tuple[int, int | None]] = {}
        avro_fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": _header_schema()}]
        self._types: dict[str, str] = {}
        for pos, (avro_name, members, kind) in enumerate(self._top, start=1):
            if kind != "compound":
                field_name = members[0][0]
                self.positions[field_name] = (pos, None)
                self._types[field_name] = kind
                avro_fields.append(
                    {
                        "name": avro_name,
                        "type": ["null", _avro_type(kind)],
                        "doc": f"{avro_name}:{_doc_type(kind)}",
                        "default": None,
                    }
                )
                continue
            children = []
            for child_pos, (field_name, child_name) in enumerate(members):
                self.positions[field_name] = (pos, child_pos)
                self._types[field_name] = "string"
                children.append({"name": child_name, "type": ["null", "string"], "default": None})
            record_type = "Address" if avro_name.endswith("Address") else "PersonName"
            avro_fields.append(
                {
                    "name": avro_name,
                    "type": [
                        "null",
                        {"type": "record", "name": f"{avro_name}_{record_type}", "fields": children},
                    ],
                    "doc": f"{avro_name}:{record_type}",
                    "default": None,
                }
            )
        body: dict[str, Any] = {
            "name": self.event_name,
            "namespace": _NAMESPACE,
            "type": "record",
            "fields": avro_fields,
        }
        self.schema_id = _schema_id(body)
        # §6.6: the real schema JSON carries its id as "uuid".
        self.schema: dict[str, Any] = {**body, "uuid": self.schema_id}
        self.schema_json = json.dumps(self.schema)

    def bitmap(self, field_names: Sequence[str]) -> list[str]:
        """§6.7 bitmap strings for sandbox field names (fields outside the event are left out)."""
        top = 0
        nested: dict[int, int] = {}
        for name in field_names:
            where = self.positions.get(name)
            if where is None:
                continue
            pos, child = where
            if child is None:
                top |= 1 << pos
            else:
                nested[pos] = nested.get(pos, 0) | (1 << child)
        if not top and not nested:
            return []
        return [f"0x{top:X}"] + [f"{pos}-0x{bits:X}" for pos, bits in sorted(nested.items())]

    def body(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Avro body fields from sandbox values; fields not in ``values`` are null (§6.7 UPDATE)."""
        out: dict[str, Any] = {}
        for avro_name, members, kind in self._top:
            if kind != "compound":
                out[avro_name] = _encode(values.get(members[0][0]), kind)
                continue
            present = [(f, c) for f, c in members if f in values]
            out[avro_name] = {c: _encode(values.get(f), "string") for f, c in members} if present else None
        return out

    def null_body(self) -> dict[str, Any]:
        """All body fields null (DELETE, gap and overflow events)."""
        return {avro_name: None for avro_name, _, _ in self._top}


def _encode(value: Any, describe_type: str) -> Any:
    if value is None:
        return None
    if describe_type == "datetime" and isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if describe_type == "date" and isinstance(value, date):
        return (value - date(1970, 1, 1)).days
    if _avro_type(describe_type) == "double":
        return float(value)
    if _avro_type(describe_type) == "boolean":
        return bool(value)
    if _avro_type(describe_type) == "string":
        return str(value)
    return value


def build_event_schema(entity: str, fields: Iterable[EntityField]) -> EventSchema:
    """The change-event schema of ``entity`` from its field list."""
    return EventSchema(entity, fields)
