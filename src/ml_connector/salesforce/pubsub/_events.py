"""Decoded change events, the batches a handler receives, and the echo filter (§6.7, §6.8, §8)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ml_connector.salesforce.pubsub._avro import EventSchema

__all__ = ["OVERFLOW_RECORD_ID", "CdcBatch", "ChangeEvent", "decode_change_event", "should_process"]

OVERFLOW_RECORD_ID = "000000000000000AAA"  # §6.8
# §8: changedFields always carries LastModifiedDate; it says nothing about who owns the change.
_SYSTEM_CHANGED_FIELDS = frozenset({"LastModifiedDate", "LastModifiedById"})


@dataclass(frozen=True)
class ChangeEvent:
    """One Change Data Capture event, header decoded (bitmaps as field names) and its body values."""

    entity: str
    change_type: str
    record_ids: tuple[str, ...]
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    diff_fields: tuple[str, ...]
    change_origin: str
    commit_timestamp: datetime
    commit_number: int
    commit_user: str
    transaction_key: str
    sequence_number: int
    replay_id: bytes
    schema_id: str
    event_id: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_gap(self) -> bool:
        """A ``GAP_*`` event: re-read ``record_ids`` (§6.8)."""
        return self.change_type.startswith("GAP_") and not self.is_overflow

    @property
    def is_overflow(self) -> bool:
        """A ``GAP_OVERFLOW`` event: re-sync the whole entity (§6.8)."""
        return self.change_type == "GAP_OVERFLOW"

    def is_own_write(self, client_name: str) -> bool:
        """Whether ``changeOrigin`` carries ``client=<client_name>`` (our ``Sforce-Call-Options``, §8).

        A substring match as §8 advises (real values may end with ``/``), but ``client=ml-connector``
        does not match ``client=ml-connector-2``.
        """
        pattern = r"client=" + re.escape(client_name) + r"(?=$|[/;,\s])"
        return re.search(pattern, self.change_origin) is not None


@dataclass(frozen=True)
class CdcBatch:
    """The events of one ``FetchResponse``; ``replay_id`` is stored once the handler returned."""

    topic: str
    events: tuple[ChangeEvent, ...]
    replay_id: bytes

    @property
    def changes(self) -> tuple[ChangeEvent, ...]:
        """Ordinary change events (no gap, no overflow)."""
        return tuple(e for e in self.events if not e.change_type.startswith("GAP_"))

    def records_to_reread(self) -> dict[str, tuple[str, ...]]:
        """Gap events as "re-read these records": entity → record ids (§6.8)."""
        out: dict[str, dict[str, None]] = {}
        for event in self.events:
            if event.is_gap:
                out.setdefault(event.entity, {}).update(dict.fromkeys(event.record_ids))
        return {entity: tuple(ids) for entity, ids in out.items()}

    def entities_to_resync(self) -> tuple[str, ...]:
        """Overflow events as "re-sync this entity" (§6.8)."""
        return tuple(dict.fromkeys(e.entity for e in self.events if e.is_overflow))


def should_process(event: ChangeEvent, client_name: str, owned_fields: Collection[str] = ()) -> bool:
    """The echo filter: False for our own writes and for updates touching only fields we own.

    Gap and overflow events are always processed. ``owned_fields`` are the fields the connector
    writes (``Acumatica_Credit_Limit__c`` …), named as the decoded bitmaps name them (compound parts
    as ``BillingAddress.City``); ``LastModifiedDate`` is ignored (§8 complementary guard).
    """
    if event.change_type.startswith("GAP_"):
        return True
    if event.is_own_write(client_name):
        return False
    if event.change_type == "UPDATE" and owned_fields:
        relevant = set(event.changed_fields) - _SYSTEM_CHANGED_FIELDS
        return not relevant <= set(owned_fields)
    return True


def decode_change_event(
    schema: EventSchema, payload: bytes, *, replay_id: bytes, event_id: str = ""
) -> ChangeEvent:
    """Decode a payload with its writer schema into a :class:`ChangeEvent`."""
    record = schema.decode(payload)
    header = record.pop("ChangeEventHeader")
    return ChangeEvent(
        entity=str(header["entityName"]),
        change_type=str(header["changeType"]),
        record_ids=tuple(header["recordIds"]),
        changed_fields=tuple(schema.decode_bitmap(header.get("changedFields") or [])),
        nulled_fields=tuple(schema.decode_bitmap(header.get("nulledFields") or [])),
        diff_fields=tuple(schema.decode_bitmap(header.get("diffFields") or [])),
        change_origin=str(header.get("changeOrigin") or ""),
        commit_timestamp=datetime.fromtimestamp(int(header["commitTimestamp"]) / 1000, UTC),
        commit_number=int(header.get("commitNumber") or 0),
        commit_user=str(header.get("commitUser") or ""),
        transaction_key=str(header.get("transactionKey") or ""),
        sequence_number=int(header.get("sequenceNumber") or 0),
        replay_id=replay_id,
        schema_id=schema.schema_id,
        event_id=event_id,
        values=record,
    )
