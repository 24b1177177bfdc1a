"""Avro decoding of Pub/Sub change events (reference salesforce-api.md §6.6, §6.7).

Payloads are schemaless Avro binary; the writer schema is fetched with ``GetSchema`` once per schema
id and kept in :class:`SchemaCache` (the id changes when the object's schema changes, §6.6).

The header's ``changedFields`` / ``nulledFields`` / ``diffFields`` are bitmaps (§6.7): element 0,
``"0x…"``, is a hex number whose bit i (least significant first) stands for the top-level field at
index i of the schema (index 0 is ``ChangeEventHeader`` itself); further elements
``"<parentPos>-0x…"`` are bitmaps over the fields of the compound field at ``parentPos`` and decode
to ``Parent.Child`` (``BillingAddress.City``). :func:`decode_bitmap` turns them into field names.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fastavro

__all__ = ["EventSchema", "SchemaCache", "decode_bitmap", "field_names_of_bits"]


@dataclass(frozen=True)
class EventSchema:
    """One writer schema: its id, the raw JSON as a dict, and fastavro's parsed form."""

    schema_id: str
    raw: Mapping[str, Any]
    parsed: Any

    @classmethod
    def from_json(cls, schema_id: str, schema_json: str) -> EventSchema:
        """Parse the ``schema_json`` of a ``SchemaInfo``."""
        raw = json.loads(schema_json)
        return cls(schema_id, raw, fastavro.parse_schema(raw))

    def decode(self, payload: bytes) -> dict[str, Any]:
        """Decode one binary Avro payload (no container header, §6.6)."""
        record = fastavro.schemaless_reader(io.BytesIO(payload), self.parsed, None)
        if not isinstance(record, dict):
            raise ValueError(f"schema {self.schema_id} does not describe a record")
        return record

    def decode_bitmap(self, bitmaps: Sequence[str]) -> list[str]:
        """Field names behind a header bitmap field of this schema."""
        return decode_bitmap(self.raw, bitmaps)


class SchemaCache:
    """Schemas by id; ``fetch(schema_id)`` (a ``GetSchema`` call returning the JSON) runs once per id."""

    def __init__(self, fetch: Callable[[str], Awaitable[str]]) -> None:
        self._fetch = fetch
        self._schemas: dict[str, EventSchema] = {}
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self, schema_id: str) -> EventSchema:
        """The schema for ``schema_id``, fetched on first use."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._schemas.get(schema_id)
            if cached is None:
                self.fetches += 1
                cached = EventSchema.from_json(schema_id, await self._fetch(schema_id))
                self._schemas[schema_id] = cached
            return cached


def field_names_of_bits(hex_bitmap: str, fields: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of the fields whose bit is set in ``"0x…"`` (bit i = ``fields[i]``, LSB first)."""
    bits = int(hex_bitmap, 16)
    names: list[str] = []
    index = 0
    while bits:
        if bits & 1 and index < len(fields):
            names.append(str(fields[index]["name"]))
        bits >>= 1
        index += 1
    return names


def _record_fields(avro_type: Any) -> list[Mapping[str, Any]] | None:
    """The fields of a record type, looking inside a ``["null", {record}]`` union."""
    candidates = avro_type if isinstance(avro_type, list) else [avro_type]
    for candidate in candidates:
        if isinstance(candidate, Mapping) and candidate.get("type") == "record":
            return list(candidate["fields"])
    return None


def decode_bitmap(schema: Mapping[str, Any], bitmaps: Sequence[str]) -> list[str]:
    """§6.7 bitmap strings → field names (top level first, then ``Parent.Child`` names)."""
    fields: list[Mapping[str, Any]] = list(schema["fields"])
    names: list[str] = []
    for element in bitmaps:
        if not element:
            continue
        position, dash, hex_bits = element.partition("-")
        if not dash:
            names.extend(field_names_of_bits(element, fields))
            continue
        parent = fields[int(position)]
        children = _record_fields(parent["type"])
        if children is None:
            continue  # not a compound field: nothing nested to name
        names.extend(f"{parent['name']}.{child}" for child in field_names_of_bits(hex_bits, children))
    return names
