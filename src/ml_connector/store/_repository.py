"""The state store's small repository API: what flows, the vault and the CLI read and write.

The central promise: :meth:`StateStore.record_outcomes` writes a batch of record outcomes (link state
+ audit events) **and** advances the stream's cursor in one transaction, so a cursor never moves past
a record whose outcome is not durable, and a crash leaves either both or neither.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

from ml_connector.errors import ConfigError
from ml_connector.store._engine import WRITE, create_state_engine
from ml_connector.store._tables import cdc_positions, connections, credentials, cursors, events, links, runs

__all__ = [
    "CredentialRow",
    "CursorPosition",
    "EventKind",
    "Link",
    "LinkStatus",
    "RecordOutcome",
    "StateStore",
]


def utcnow() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


class LinkStatus(enum.StrEnum):
    """Where a source record stands with its target."""

    SYNCED = "synced"
    PARKED = "parked"
    IN_DOUBT = "in_doubt"  # a create was sent and its answer is unknown: look up before creating again
    SKIPPED = "skipped"
    DELETED = "deleted"


class EventKind(enum.StrEnum):
    """Audit trail entries, one per thing that happened to a record."""

    INTENT = "intent"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    PARKED = "parked"
    RETRIED = "retried"
    FAILED = "failed"
    DELETED = "deleted"
    SKIPPED = "skipped"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class CursorPosition:
    """A compound cursor: ordered by timestamp, ties broken by id (DESIGN.md, cursor rules)."""

    ts: str
    id: str

    def __lt__(self, other: CursorPosition) -> bool:
        return (self.ts, self.id) < (other.ts, other.id)

    def __le__(self, other: CursorPosition) -> bool:
        return (self.ts, self.id) <= (other.ts, other.id)


@dataclass(frozen=True, slots=True)
class Link:
    """The ledger's current state for one source record."""

    connection_id: int
    flow: str
    source_id: str
    target_key: str | None
    status: LinkStatus
    content_hash: str | None
    source_version: str | None
    attempts: int
    last_error: str | None
    error_field: str | None
    hint: str | None
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class RecordOutcome:
    """What happened to one record in a run: the new link state plus the audit event to append."""

    flow: str
    source_id: str
    status: LinkStatus
    event: EventKind
    target_key: str | None = None
    content_hash: str | None = None
    source_version: str | None = None
    fields: Sequence[str] = ()
    message: str | None = None
    error_field: str | None = None
    hint: str | None = None
    data: dict[str, Any] | None = None  # replaces the link's data when given
    count_attempt: bool = False  # a failed or parked attempt: attempts + 1; success resets to 0
    run_id: int | None = None
    audit: bool = True  # False for unchanged-skips (counted per run, not one row each)


@dataclass(frozen=True, slots=True)
class CredentialRow:
    """One encrypted credential as stored."""

    connection_id: int
    kind: str
    key_id: str
    ciphertext: str
    updated_at: datetime


def _link(row: sa.Row[Any]) -> Link:
    m = row._mapping
    return Link(
        connection_id=m["connection_id"],
        flow=m["flow"],
        source_id=m["source_id"],
        target_key=m["target_key"],
        status=LinkStatus(m["status"]),
        content_hash=m["content_hash"],
        source_version=m["source_version"],
        attempts=m["attempts"],
        last_error=m["last_error"],
        error_field=m["error_field"],
        hint=m["hint"],
        data=dict(m["data"] or {}),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


class StateStore:
    """Durable state of every connection: credentials, ledger, audit trail, cursors, runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> StateStore:
        """Connect to ``url`` and (by default) bring its schema up to date."""
        store = cls(create_state_engine(url))
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- schema --------------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision`` (idempotent)."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(resources.files("ml_connector.store") / "migrations"))
        with self.engine.connect().execution_options(**WRITE) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()

    def schema_revision(self) -> str | None:
        """The applied Alembic revision, or None for an empty database."""
        with self.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    # -- connections ---------------------------------------------------------------------------
    def ensure_connection(self, name: str) -> int:
        """The id of connection ``name``, creating the row on first use."""
        with self.read() as conn:
            found = conn.execute(sa.select(connections.c.id).where(connections.c.name == name)).scalar()
        if found is not None:
            return int(found)
        with self.write() as conn:
            found = conn.execute(sa.select(connections.c.id).where(connections.c.name == name)).scalar()
            if found is None:
                found = conn.execute(
                    connections.insert().values(name=name, created_at=utcnow()).returning(connections.c.id)
                ).scalar_one()
        return int(found)

    def connection_created_at(self, connection_id: int) -> datetime:
        """When this ledger first saw the connection (records activated later were never sent before)."""
        with self.read() as conn:
            value = conn.execute(
                sa.select(connections.c.created_at).where(connections.c.id == connection_id)
            ).scalar()
        if value is None:
            raise ConfigError(f"connection {connection_id} does not exist", hint="run `ml-connector init`")
        return value  # type: ignore[no-any-return]

    # -- credentials ---------------------------------------------------------------------------
    def put_credential(self, connection_id: int, kind: str, key_id: str, ciphertext: str) -> None:
        """Insert or replace one encrypted credential."""
        with self.write() as conn:
            self._put_credential(conn, connection_id, kind, key_id, ciphertext)

    @staticmethod
    def _put_credential(
        conn: sa.Connection, connection_id: int, kind: str, key_id: str, ciphertext: str
    ) -> None:
        values = {"key_id": key_id, "ciphertext": ciphertext, "updated_at": utcnow()}
        updated = conn.execute(
            credentials.update()
            .where(credentials.c.connection_id == connection_id, credentials.c.kind == kind)
            .values(**values)
        ).rowcount
        if not updated:
            conn.execute(credentials.insert().values(connection_id=connection_id, kind=kind, **values))

    def get_credential(self, connection_id: int, kind: str) -> CredentialRow | None:
        """One credential's ciphertext, or None."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(credentials).where(
                    credentials.c.connection_id == connection_id, credentials.c.kind == kind
                )
            ).first()
        return self._credential(row) if row else None

    def list_credentials(self, connection_id: int | None = None) -> list[CredentialRow]:
        """Every stored credential (of one connection, or of all)."""
        query = sa.select(credentials).order_by(credentials.c.connection_id, credentials.c.kind)
        if connection_id is not None:
            query = query.where(credentials.c.connection_id == connection_id)
        with self.read() as conn:
            return [self._credential(row) for row in conn.execute(query)]

    def delete_credential(self, connection_id: int, kind: str) -> bool:
        """Remove one credential; True when it existed."""
        with self.write() as conn:
            deleted = conn.execute(
                credentials.delete().where(
                    credentials.c.connection_id == connection_id, credentials.c.kind == kind
                )
            ).rowcount
        return bool(deleted)

    def replace_credentials(self, rows: Iterable[CredentialRow]) -> int:
        """Write re-encrypted credentials in one transaction (key rotation); returns the count."""
        count = 0
        with self.write() as conn:
            for row in rows:
                self._put_credential(conn, row.connection_id, row.kind, row.key_id, row.ciphertext)
                count += 1
        return count

    @staticmethod
    def _credential(row: sa.Row[Any]) -> CredentialRow:
        m = row._mapping
        return CredentialRow(m["connection_id"], m["kind"], m["key_id"], m["ciphertext"], m["updated_at"])

    # -- ledger --------------------------------------------------------------------------------
    def get_link(self, connection_id: int, flow: str, source_id: str) -> Link | None:
        """The ledger entry of one source record."""
        return self.get_links(connection_id, flow, [source_id]).get(source_id)

    def get_links(self, connection_id: int, flow: str, source_ids: Iterable[str]) -> dict[str, Link]:
        """Ledger entries of many source records, by source id (missing ones are absent)."""
        wanted = list(dict.fromkeys(source_ids))
        found: dict[str, Link] = {}
        with self.read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = sa.select(links).where(
                    links.c.connection_id == connection_id, links.c.flow == flow, links.c.source_id.in_(chunk)
                )
                found.update((link.source_id, link) for link in map(_link, conn.execute(query)))
        return found

    def links_by_status(self, connection_id: int, status: LinkStatus, flow: str | None = None) -> list[Link]:
        """Every link in ``status`` (e.g. parked), oldest change first."""
        query = sa.select(links).where(links.c.connection_id == connection_id, links.c.status == status.value)
        if flow is not None:
            query = query.where(links.c.flow == flow)
        with self.read() as conn:
            return [_link(row) for row in conn.execute(query.order_by(links.c.updated_at))]

    def find_links(self, connection_id: int, key: str) -> list[Link]:
        """Links whose source id or target key is ``key`` (for ``audit RECORD``)."""
        query = sa.select(links).where(
            links.c.connection_id == connection_id,
            sa.or_(links.c.source_id == key, links.c.target_key == key),
        )
        with self.read() as conn:
            return [_link(row) for row in conn.execute(query)]

    def count_links(self, connection_id: int) -> dict[tuple[str, str], int]:
        """How many links per (flow, status)."""
        query = (
            sa.select(links.c.flow, links.c.status, sa.func.count())
            .where(links.c.connection_id == connection_id)
            .group_by(links.c.flow, links.c.status)
        )
        with self.read() as conn:
            return {(flow, status): int(n) for flow, status, n in conn.execute(query)}

    def record_outcomes(
        self,
        connection_id: int,
        outcomes: Sequence[RecordOutcome],
        *,
        cursor: tuple[str, CursorPosition] | None = None,
    ) -> None:
        """Write the outcomes (links + audit events) and advance ``cursor`` in ONE transaction."""
        now = utcnow()
        with self.write() as conn:
            for outcome in outcomes:
                self._apply_outcome(conn, connection_id, outcome, now)
            if cursor is not None:
                self._advance_cursor(conn, connection_id, cursor[0], cursor[1], now)

    def record_outcome(
        self, connection_id: int, outcome: RecordOutcome, *, cursor: tuple[str, CursorPosition] | None = None
    ) -> None:
        """One record's outcome (and optionally the cursor) in one transaction."""
        self.record_outcomes(connection_id, [outcome], cursor=cursor)

    @staticmethod
    def _apply_outcome(
        conn: sa.Connection, connection_id: int, outcome: RecordOutcome, now: datetime
    ) -> None:
        key = (
            links.c.connection_id == connection_id,
            links.c.flow == outcome.flow,
            links.c.source_id == outcome.source_id,
        )
        current = conn.execute(sa.select(links.c.attempts, links.c.target_key).where(*key)).first()
        attempts = (current.attempts if current else 0) + 1 if outcome.count_attempt else 0
        values: dict[str, Any] = {
            "status": outcome.status.value,
            "attempts": attempts,
            "updated_at": now,
        }
        is_problem = (
            outcome.status in (LinkStatus.PARKED, LinkStatus.SKIPPED) or outcome.event == EventKind.FAILED
        )
        values["last_error"] = outcome.message if is_problem else None
        values["error_field"] = outcome.error_field if is_problem else None
        values["hint"] = outcome.hint if is_problem else None
        if outcome.target_key is not None:
            values["target_key"] = outcome.target_key
        if outcome.content_hash is not None:
            values["content_hash"] = outcome.content_hash
        if outcome.source_version is not None:
            values["source_version"] = outcome.source_version
        if outcome.data is not None:
            values["data"] = outcome.data
        if current is None:
            conn.execute(
                links.insert().values(
                    connection_id=connection_id,
                    flow=outcome.flow,
                    source_id=outcome.source_id,
                    created_at=now,
                    **values,
                )
            )
        else:
            conn.execute(links.update().where(*key).values(**values))
        if outcome.audit:
            target = (
                outcome.target_key
                if outcome.target_key is not None
                else (current.target_key if current else None)
            )
            conn.execute(
                events.insert().values(
                    connection_id=connection_id,
                    run_id=outcome.run_id,
                    flow=outcome.flow,
                    source_id=outcome.source_id,
                    target_key=target,
                    kind=outcome.event.value,
                    at=now,
                    fields=list(outcome.fields) or None,
                    message=outcome.message,
                )
            )

    def history(self, connection_id: int, key: str) -> list[dict[str, Any]]:
        """Audit events of one record, by Salesforce id or Acumatica key, oldest first."""
        query = (
            sa.select(events)
            .where(
                events.c.connection_id == connection_id,
                sa.or_(events.c.source_id == key, events.c.target_key == key),
            )
            .order_by(events.c.id)
        )
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def audit_events(
        self,
        connection_id: int,
        *,
        flow: str | None = None,
        since: datetime | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit events filtered by flow, time and kind, oldest first."""
        query = sa.select(events).where(events.c.connection_id == connection_id)
        if flow:
            query = query.where(events.c.flow == flow)
        if since:
            query = query.where(events.c.at >= since)
        if kind:
            query = query.where(events.c.kind == kind)
        query = query.order_by(events.c.id)
        if limit:
            query = query.limit(limit)
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    # -- cursors -------------------------------------------------------------------------------
    def get_cursor(self, connection_id: int, stream: str) -> CursorPosition | None:
        """The stream's position, or None before its first run."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(cursors.c.position_ts, cursors.c.position_id).where(
                    cursors.c.connection_id == connection_id, cursors.c.stream == stream
                )
            ).first()
        return CursorPosition(row.position_ts, row.position_id) if row else None

    def advance_cursor(self, connection_id: int, stream: str, position: CursorPosition) -> bool:
        """Move the cursor forward to ``position`` (never back); True when it moved."""
        with self.write() as conn:
            return self._advance_cursor(conn, connection_id, stream, position, utcnow())

    def reset_cursor(self, connection_id: int, stream: str) -> None:
        """Forget a stream's position (a full re-read follows)."""
        with self.write() as conn:
            conn.execute(
                cursors.delete().where(cursors.c.connection_id == connection_id, cursors.c.stream == stream)
            )

    @staticmethod
    def _advance_cursor(
        conn: sa.Connection, connection_id: int, stream: str, position: CursorPosition, now: datetime
    ) -> bool:
        key = (cursors.c.connection_id == connection_id, cursors.c.stream == stream)
        row = conn.execute(sa.select(cursors.c.position_ts, cursors.c.position_id).where(*key)).first()
        if row is None:
            conn.execute(
                cursors.insert().values(
                    connection_id=connection_id,
                    stream=stream,
                    position_ts=position.ts,
                    position_id=position.id,
                    updated_at=now,
                )
            )
            return True
        if position <= CursorPosition(row.position_ts, row.position_id):
            return False
        conn.execute(
            cursors.update()
            .where(*key)
            .values(position_ts=position.ts, position_id=position.id, updated_at=now)
        )
        return True

    # -- CDC replay positions ------------------------------------------------------------------
    def get_replay_id(self, connection_id: int, topic: str) -> bytes | None:
        """The stored Pub/Sub replay id of ``topic``."""
        with self.read() as conn:
            value = conn.execute(
                sa.select(cdc_positions.c.replay_id).where(
                    cdc_positions.c.connection_id == connection_id, cdc_positions.c.topic == topic
                )
            ).scalar()
        return bytes(value) if value is not None else None

    def set_replay_id(self, connection_id: int, topic: str, replay_id: bytes) -> None:
        """Store ``topic``'s replay id (call only after its events' records are recorded)."""
        with self.write() as conn:
            key = (cdc_positions.c.connection_id == connection_id, cdc_positions.c.topic == topic)
            values = {"replay_id": replay_id, "updated_at": utcnow()}
            if not conn.execute(cdc_positions.update().where(*key).values(**values)).rowcount:
                conn.execute(
                    cdc_positions.insert().values(connection_id=connection_id, topic=topic, **values)
                )

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, connection_id: int, flow: str, trigger: str = "manual") -> int:
        """Open a run row; returns its id."""
        with self.write() as conn:
            return int(
                conn.execute(
                    runs.insert()
                    .values(
                        connection_id=connection_id,
                        flow=flow,
                        trigger=trigger,
                        status="running",
                        started_at=utcnow(),
                    )
                    .returning(runs.c.id)
                ).scalar_one()
            )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, int] | None = None,
        api_calls: dict[str, int] | None = None,
        error: str | None = None,
    ) -> None:
        """Close a run with its tallies."""
        with self.write() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status=status, finished_at=utcnow(), counts=counts, api_calls=api_calls, error=error)
            )

    def last_runs(self, connection_id: int) -> dict[str, dict[str, Any]]:
        """The latest run of each flow."""
        latest = (
            sa.select(runs.c.flow, sa.func.max(runs.c.id).label("id"))
            .where(runs.c.connection_id == connection_id)
            .group_by(runs.c.flow)
            .subquery()
        )
        query = sa.select(runs).join(latest, runs.c.id == latest.c.id)
        with self.read() as conn:
            return {row.flow: dict(row._mapping) for row in conn.execute(query)}


def require_schema(store: StateStore) -> None:
    """Fail clearly when the database was never initialised."""
    if store.schema_revision() is None:
        raise ConfigError(
            "the state database has no schema yet",
            hint="run `ml-connector init` or `ml-connector db upgrade`",
        )
