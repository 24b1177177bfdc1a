from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ml_connector.errors import ConfigError
from ml_connector.store import (
    CursorPosition,
    EventKind,
    LinkStatus,
    RecordOutcome,
    StateStore,
    require_schema,
)
from ml_connector.store._tables import metadata


def test_migrations_create_exactly_the_declared_tables(store: StateStore) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []
    assert store.schema_revision() == "0001"


def test_migrate_twice_is_a_no_op(store: StateStore) -> None:
    connection_id = store.ensure_connection("default")
    store.migrate()
    assert store.ensure_connection("default") == connection_id
    assert store.schema_revision() == "0001"


def test_require_schema_names_the_fix_on_an_empty_database(tmp_path: Path) -> None:
    empty = StateStore.open(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    with pytest.raises(ConfigError, match="ml-connector init"):
        require_schema(empty)


def test_outcome_and_cursor_are_written_together(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    position = CursorPosition("2026-11-01T10:00:00.000Z", "001000000000001AAA")
    store.record_outcomes(
        cid,
        [
            RecordOutcome(
                "accounts",
                "001000000000001AAA",
                LinkStatus.SYNCED,
                EventKind.CREATED,
                target_key="C000001",
                content_hash="h1",
                fields=["Name", "Phone"],
            )
        ],
        cursor=("accounts", position),
    )
    link = store.get_link(cid, "accounts", "001000000000001AAA")
    assert link is not None and link.target_key == "C000001" and link.status is LinkStatus.SYNCED
    assert store.get_cursor(cid, "accounts") == position
    history = store.history(cid, "C000001")
    assert [(e["kind"], e["fields"]) for e in history] == [("created", ["Name", "Phone"])]


def test_a_failed_batch_moves_neither_ledger_nor_cursor(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    bad = RecordOutcome("accounts", "001B", LinkStatus.SYNCED, EventKind.CREATED)
    good = RecordOutcome("accounts", "001A", LinkStatus.SYNCED, EventKind.CREATED)
    original_apply = StateStore._apply_outcome

    def exploding_apply(
        conn: sa.Connection, connection_id: int, outcome: RecordOutcome, now: datetime
    ) -> None:
        if outcome is bad:
            raise RuntimeError("disk full")
        original_apply(conn, connection_id, outcome, now)

    store._apply_outcome = exploding_apply  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        store.record_outcomes(
            cid, [good, bad], cursor=("accounts", CursorPosition("2026-11-01T00:00:00Z", "001A"))
        )
    assert store.get_link(cid, "accounts", "001A") is None
    assert store.get_cursor(cid, "accounts") is None


def test_cursor_never_moves_backwards(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    late = CursorPosition("2026-11-02T00:00:00.000Z", "001B")
    assert store.advance_cursor(cid, "accounts", late)
    assert not store.advance_cursor(cid, "accounts", CursorPosition("2026-11-01T00:00:00.000Z", "001Z"))
    assert not store.advance_cursor(cid, "accounts", CursorPosition("2026-11-02T00:00:00.000Z", "001A"))
    assert store.get_cursor(cid, "accounts") == late
    assert store.advance_cursor(cid, "accounts", CursorPosition("2026-11-02T00:00:00.000Z", "001C"))


def test_attempts_count_failures_and_reset_on_success(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    park = RecordOutcome(
        "orders",
        "801A",
        LinkStatus.PARKED,
        EventKind.PARKED,
        message="unknown item TILE-PORC-12",
        error_field="Details/0/InventoryID",
        hint="create the stock item",
        count_attempt=True,
    )
    store.record_outcome(cid, park)
    store.record_outcome(cid, park)
    parked = store.get_link(cid, "orders", "801A")
    assert parked is not None and parked.attempts == 2 and parked.error_field == "Details/0/InventoryID"
    assert [link.source_id for link in store.links_by_status(cid, LinkStatus.PARKED)] == ["801A"]
    store.record_outcome(
        cid, RecordOutcome("orders", "801A", LinkStatus.SYNCED, EventKind.CREATED, target_key="INV1")
    )
    synced = store.get_link(cid, "orders", "801A")
    assert synced is not None and synced.attempts == 0 and synced.last_error is None and synced.hint is None
    assert store.count_links(cid) == {("orders", "synced"): 1}


def test_unchanged_skips_update_the_link_without_an_audit_row(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    store.record_outcome(
        cid, RecordOutcome("accounts", "001A", LinkStatus.SYNCED, EventKind.CREATED, target_key="C1")
    )
    store.record_outcome(
        cid,
        RecordOutcome(
            "accounts", "001A", LinkStatus.SYNCED, EventKind.UNCHANGED, source_version="v2", audit=False
        ),
    )
    assert [e["kind"] for e in store.history(cid, "001A")] == ["created"]
    link = store.get_link(cid, "accounts", "001A")
    assert link is not None and link.source_version == "v2" and link.target_key == "C1"


def test_link_data_round_trips_json(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    data = {"invoice": {"type": "Invoice", "nbr": "AR000123"}, "rows": {"802A": "b1c2"}}
    store.record_outcome(
        cid, RecordOutcome("orders", "801A", LinkStatus.IN_DOUBT, EventKind.INTENT, data=data)
    )
    links = store.get_links(cid, "orders", ["801A", "801B"])
    assert (
        list(links) == ["801A"] and links["801A"].data == data and links["801A"].status is LinkStatus.IN_DOUBT
    )


def test_audit_events_filter_by_flow_kind_and_time(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    store.record_outcome(cid, RecordOutcome("accounts", "001A", LinkStatus.SYNCED, EventKind.CREATED))
    store.record_outcome(
        cid, RecordOutcome("orders", "801A", LinkStatus.PARKED, EventKind.PARKED, message="x")
    )
    assert [e["source_id"] for e in store.audit_events(cid, flow="orders")] == ["801A"]
    assert [e["source_id"] for e in store.audit_events(cid, kind="created")] == ["001A"]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.audit_events(cid, since=future) == []
    assert all(e["at"].tzinfo is not None for e in store.audit_events(cid))


def test_replay_ids_and_runs(store: StateStore) -> None:
    cid = store.ensure_connection("default")
    assert store.get_replay_id(cid, "/data/OrderChangeEvent") is None
    store.set_replay_id(cid, "/data/OrderChangeEvent", b"\x00\x01")
    store.set_replay_id(cid, "/data/OrderChangeEvent", b"\x00\x02")
    assert store.get_replay_id(cid, "/data/OrderChangeEvent") == b"\x00\x02"
    first = store.start_run(cid, "accounts")
    store.finish_run(first, status="ok", counts={"created": 2})
    second = store.start_run(cid, "accounts", trigger="cdc")
    store.finish_run(second, status="failed", error="AuthError")
    latest = store.last_runs(cid)
    assert latest["accounts"]["id"] == second and latest["accounts"]["status"] == "failed"


def test_connections_are_separate(store: StateStore) -> None:
    a, b = store.ensure_connection("east"), store.ensure_connection("west")
    assert a != b
    store.advance_cursor(a, "accounts", CursorPosition("2026-01-01T00:00:00Z", "1"))
    assert store.get_cursor(b, "accounts") is None


WRITER = textwrap.dedent(
    """
    import sys
    from ml_connector.store import StateStore, RecordOutcome, LinkStatus, EventKind, CursorPosition
    url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = StateStore.open(url)
    cid = store.ensure_connection("default")
    for i in range(count):
        store.record_outcomes(
            cid,
            [RecordOutcome("accounts", f"{name}-{i:04d}", LinkStatus.SYNCED, EventKind.CREATED)],
            cursor=(f"stream-{name}", CursorPosition(f"2026-01-01T00:00:{i % 60:02d}Z", f"{i:06d}")),
        )
    print("ok")
    """
)


def test_two_processes_write_the_same_sqlite_state_without_lock_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    StateStore.open(url).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, name, "150"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip() == "ok"
    store = StateStore.open(url)
    cid = store.ensure_connection("default")
    assert store.count_links(cid) == {("accounts", "synced"): 300}
    assert len(store.audit_events(cid)) == 300
