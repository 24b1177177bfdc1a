"""The sandbox event bus: committed REST changes → Avro change events with replay ids (§6.4–6.8).

Every :class:`CommittedChange` the REST sandbox reports becomes one or more change events: record
ids whose changes are identical (same change type, fields and values) in one request share an
event, as CDC merges them (§6.7); differing ones get their own. Events are kept for the retention
window (72 h, §6.4) measured on the sandbox clock; older ones are purged lazily, and a replay id that
points into the purged part is "corrupted". Replay ids are opaque: 24 bytes holding the position, the
time the id was minted and a tag keyed with a per-bus secret, so a forged or foreign id is refused like a stale one.
Gap (``GAP_*``) and overflow (``GAP_OVERFLOW``) events are injected on demand (§6.8).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import secrets
import struct
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import fastavro

from ml_connector.sandbox.pubsub._schema import EntityField, EventSchema

__all__ = [
    "CDC_ENTITIES",
    "OVERFLOW_RECORD_ID",
    "BusEvent",
    "ChangeSource",
    "CommittedChange",
    "EventBus",
    "ReplayIdCorrupted",
]

CDC_ENTITIES: tuple[str, ...] = ("Account", "Contact", "Order")
OVERFLOW_RECORD_ID = "000000000000000AAA"  # §6.8: the record id of every overflow event
RETENTION = timedelta(hours=72)  # §6.4


class CommittedChange(Protocol):
    """What the bus reads from a REST sandbox change (``sandbox.salesforce.Change``)."""

    @property
    def entity(self) -> str: ...
    @property
    def change_type(self) -> str: ...
    @property
    def record_ids(self) -> tuple[str, ...]: ...
    @property
    def changed_fields(self) -> tuple[str, ...]: ...
    @property
    def nulled_fields(self) -> tuple[str, ...]: ...
    @property
    def client(self) -> str | None: ...
    @property
    def api_version(self) -> str | None: ...
    @property
    def commit_timestamp(self) -> datetime: ...
    @property
    def commit_number(self) -> int: ...
    @property
    def transaction_key(self) -> str: ...
    @property
    def commit_user(self) -> str: ...
    @property
    def values(self) -> dict[str, dict[str, Any]]: ...


class ChangeSource(Protocol):
    """What the Pub/Sub sandbox needs from the Salesforce sandbox it streams."""

    @property
    def org_id(self) -> str:
        """The 18-character org id (the ``tenantid`` metadata, §6.1)."""
        ...

    def now(self) -> datetime:
        """The sandbox clock."""
        ...

    def token_is_valid(self, access_token: str) -> bool:
        """Whether an access token is a live session (the ``accesstoken`` metadata)."""
        ...

    def add_change_listener(self, listener: Callable[[CommittedChange], None]) -> None:
        """Have ``listener`` called with every committed change."""
        ...

    def entity_fields(self, entity: str) -> Sequence[EntityField]:
        """The fields of one entity, in describe order."""
        ...


class ReplayIdCorrupted(Exception):
    """A CUSTOM replay id that is unknown, forged or older than the retention window (§6.4)."""


@dataclass(frozen=True)
class BusEvent:
    """One stored change event."""

    position: int
    entity: str
    schema_id: str
    event_id: str
    payload: bytes
    stored_at: datetime


def _change_origin(change: CommittedChange) -> str:
    """§6.7/§8: ``com/salesforce/api/rest/<ver>;client=<token>``; empty for non-API changes."""
    if not change.api_version:
        return ""
    origin = f"com/salesforce/api/rest/{change.api_version}"
    return f"{origin};client={change.client}" if change.client else origin


class EventBus:
    """All change events of one sandbox org, oldest first, with waiters for new ones."""

    def __init__(
        self,
        source: ChangeSource,
        *,
        retention: timedelta = RETENTION,
        entities: Sequence[str] = CDC_ENTITIES,
    ) -> None:
        self._source = source
        self.retention = retention
        self.schemas: dict[str, EventSchema] = {e: EventSchema(e, source.entity_fields(e)) for e in entities}
        self.schemas_by_id: dict[str, EventSchema] = {s.schema_id: s for s in self.schemas.values()}
        self._parsed = {e: fastavro.parse_schema(s.schema) for e, s in self.schemas.items()}
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._events: list[BusEvent] = []
        self._purged_through = 0  # position of the newest purged event (0: nothing purged)
        self._latest = 0
        self._sequence: tuple[str, int] = ("", 0)  # (transactionKey, last sequenceNumber)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        source.add_change_listener(self.publish_change)

    # --- replay ids -----------------------------------------------------------------------------

    def replay_id(self, position: int, minted: datetime | None = None) -> bytes:
        """The opaque replay id of a position, minted at ``minted`` (default: now).

        An event's id is minted when it was stored (so it never changes); a keep-alive's
        ``latest_replay_id`` is minted when it is sent. 24 bytes: position, mint time, tag.
        """
        when = minted if minted is not None else self._source.now()
        raw = struct.pack(">QQ", position, int(when.timestamp() * 1000))
        return raw + hmac.new(self._secret, raw, hashlib.sha256).digest()[:8]

    def position_of(self, replay_id: bytes) -> int:
        """The position behind a replay id, or :class:`ReplayIdCorrupted`.

        Valid when it is ours, was minted within the retention window, and no retained-window event
        after it has been purged (§6.4: "an old Replay ID outside the 72-hour retention period").
        """
        if len(replay_id) != 24:
            raise ReplayIdCorrupted("not a replay id of this event bus")
        raw, tag = replay_id[:16], replay_id[16:]
        if not hmac.compare_digest(tag, hmac.new(self._secret, raw, hashlib.sha256).digest()[:8]):
            raise ReplayIdCorrupted("not a replay id of this event bus")
        position, minted_ms = (int(v) for v in struct.unpack(">QQ", raw))
        with self._lock:
            self._purge()
            horizon_ms = (self._source.now() - self.retention).timestamp() * 1000
            if minted_ms < horizon_ms or position < self._purged_through or position > self._latest:
                raise ReplayIdCorrupted("replay id outside the retention window")
        return position

    def latest_position(self) -> int:
        """The position of the newest event (0 when none was ever stored)."""
        with self._lock:
            return self._latest

    def earliest_position(self) -> int:
        """The position just before the oldest retained event."""
        with self._lock:
            self._purge()
            return self._purged_through

    # --- reading --------------------------------------------------------------------------------

    def events_after(self, position: int, entities: frozenset[str], limit: int) -> tuple[list[BusEvent], int]:
        """Up to ``limit`` retained events of ``entities`` after ``position``, and the position scanned to."""
        with self._lock:
            self._purge()
            found: list[BusEvent] = []
            start = max(position - self._purged_through, 0)
            scanned = max(position, self._purged_through)
            for index in range(start, len(self._events)):  # no slice: the log can be long
                if len(found) >= limit:
                    break
                event = self._events[index]
                scanned = event.position
                if event.entity in entities:
                    found.append(event)
            return found, scanned

    def watch(self) -> asyncio.Event:
        """An event set whenever something is published (call :meth:`unwatch` when done)."""
        signal = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), signal))
        return signal

    def unwatch(self, signal: asyncio.Event) -> None:
        """Stop notifying ``signal``."""
        with self._lock:
            self._waiters = {w for w in self._waiters if w[1] is not signal}

    # --- writing --------------------------------------------------------------------------------

    def publish_change(self, change: CommittedChange) -> None:
        """The REST sandbox's change listener: store the events of one committed change."""
        schema = self.schemas.get(change.entity)
        if schema is None:
            return  # entity not selected for Change Data Capture (§6.5)
        groups: dict[str, tuple[list[str], dict[str, Any]]] = {}
        for record_id in change.record_ids:
            values = change.values.get(record_id, {})
            body = schema.null_body() if change.change_type == "DELETE" else schema.body(values)
            key = repr(sorted(body.items()))
            groups.setdefault(key, ([], body))[0].append(record_id)
        origin = _change_origin(change)
        for record_ids, body in groups.values():
            header = {
                "entityName": change.entity,
                "recordIds": record_ids,
                "changeType": change.change_type,
                "changeOrigin": origin,
                "transactionKey": change.transaction_key,
                "sequenceNumber": 0,
                "commitTimestamp": int(change.commit_timestamp.timestamp() * 1000),
                "commitNumber": change.commit_number,
                "commitUser": change.commit_user,
                # §6.7: nulledFields/changedFields for UPDATE; the sandbox never sends unified diffs,
                # so diffFields stays empty.
                "nulledFields": schema.bitmap(change.nulled_fields) if change.change_type == "UPDATE" else [],
                "diffFields": [],
                "changedFields": schema.bitmap(change.changed_fields)
                if change.change_type == "UPDATE"
                else [],
            }
            self._store(change.entity, header, body)

    def inject_gap(self, entity: str, record_ids: Sequence[str], change_type: str = "GAP_UPDATE") -> None:
        """Store a gap event (header only, no values, empty changeOrigin) for ``record_ids`` (§6.8)."""
        if not change_type.startswith("GAP_") or change_type == "GAP_OVERFLOW":
            raise ValueError(
                "a gap event's change type is GAP_CREATE, GAP_UPDATE, GAP_DELETE or GAP_UNDELETE"
            )
        self._store_synthetic(entity, list(record_ids), change_type)

    def inject_overflow(self, entity: str) -> None:
        """Store the overflow event of ``entity`` (record id ``000000000000000AAA``, §6.8)."""
        self._store_synthetic(entity, [OVERFLOW_RECORD_ID], "GAP_OVERFLOW")

    def reset(self) -> None:
        """Forget every event; old replay ids become invalid (as after an org move, §6.4)."""
        with self._lock:
            self._events.clear()
            self._secret = secrets.token_bytes(16)
            self._purged_through = self._latest = 0

    def _store_synthetic(self, entity: str, record_ids: list[str], change_type: str) -> None:
        schema = self.schemas.get(entity)
        if schema is None:
            raise ValueError(f"no change events for {entity!r}; known: {sorted(self.schemas)}")
        now = self._source.now()
        header = {
            "entityName": entity,
            "recordIds": record_ids,
            "changeType": change_type,
            "changeOrigin": "",
            "transactionKey": str(uuid.uuid4()),
            "sequenceNumber": 0,
            "commitTimestamp": int(now.timestamp() * 1000),
            "commitNumber": 0,
            "commitUser": "",
            "nulledFields": [],
            "diffFields": [],
            "changedFields": [],
        }
        self._store(entity, header, schema.null_body())

    def _store(self, entity: str, header: dict[str, Any], body: Mapping[str, Any]) -> None:
        schema = self.schemas[entity]
        with self._lock:
            key, last = self._sequence
            sequence = last + 1 if key == header["transactionKey"] else 1
            self._sequence = (header["transactionKey"], sequence)
            header["sequenceNumber"] = sequence
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, self._parsed[entity], {"ChangeEventHeader": header, **body})
            self._latest += 1
            self._events.append(
                BusEvent(
                    position=self._latest,
                    entity=entity,
                    schema_id=schema.schema_id,
                    event_id=str(uuid.uuid4()),
                    payload=buffer.getvalue(),
                    stored_at=self._source.now(),
                )
            )
            waiters = list(self._waiters)
        for loop, signal in waiters:
            try:
                loop.call_soon_threadsafe(signal.set)
            except RuntimeError:  # that subscriber's loop is closed
                self.unwatch(signal)

    def _purge(self) -> None:
        horizon = self._source.now() - self.retention
        drop = 0
        for event in self._events:
            if event.stored_at >= horizon:
                break
            drop += 1
        if drop:
            self._purged_through = self._events[drop - 1].position
            del self._events[:drop]
