"""``ml-connector run``: Change Data Capture in real time, scheduled polls as the safety net.

Per connection, one process holds:

- the CDC subscriber (``/data/ChangeEvents`` over the Pub/Sub API). A batch of events is a trigger,
  not the data: the records named are re-read and synced by their flow; our own writes and updates
  touching only fields we own are dropped (no echo); gap events re-read their records; an overflow
  re-syncs the entity from its cursor. The replay id is stored only after the batch's records are
  in the ledger (the subscriber saves it when the handler returns);
- a poll of every enabled flow at start and then on its schedule (interval or cron), including the
  credit flow's Acumatica polls; every poll also retries parked records whose cause is gone;
- when the stored replay id is older than the 72-hour window, a catch-up of the Salesforce flows from
  their cursors before streaming again (see ``catch_up``).

All work goes through one lock, so a poll and a CDC batch never touch the same record at once.
Only one ``run`` per connection: a file lock (SQLite) or an advisory lock (PostgreSQL); a second one
says so and exits, or waits as a standby with ``--standby``. SIGTERM/SIGINT finish the unit of work
in flight, store positions, and sign out of Acumatica.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from croniter import croniter

from ml_connector.admin import Workspace
from ml_connector.errors import AuthError, ConfigError, ConnectorError, QuotaExhausted
from ml_connector.logging import get_logger
from ml_connector.salesforce.pubsub import CdcBatch, CdcSubscriber, should_process
from ml_connector.sync import Flows, SyncContext, Transports, open_sync, run_flows

__all__ = [
    "CDC_TOPIC",
    "ConnectorDaemon",
    "StoreReplayPosition",
    "read_run_status",
    "running",
    "serve",
    "single_instance",
]

CDC_TOPIC = "/data/ChangeEvents"
FLOW_OF_ENTITY = {"Account": "accounts", "Contact": "contacts", "Order": "orders"}
STATUS_FILE = "run-status.json"
log = get_logger(__name__)


class StoreReplayPosition:
    """The subscriber's replay position, kept in the state store's ``cdc_positions``."""

    def __init__(self, ws: Workspace, topic: str) -> None:
        self.ws = ws
        self.topic = topic

    async def load(self) -> bytes | None:
        """The stored replay id, or None (then the stream starts at LATEST)."""
        return self.ws.store.get_replay_id(self.ws.connection_id, self.topic)

    async def save(self, replay_id: bytes) -> None:
        """Store the position (called after the batch's records are recorded)."""
        self.ws.store.set_replay_id(self.ws.connection_id, self.topic, replay_id)


@contextlib.contextmanager
def single_instance(ws: Workspace, *, wait: bool = False) -> Iterator[None]:
    """Hold the connection's run lock for the block; ConfigError if another ``run`` holds it."""
    if ws.store.engine.dialect.name == "postgresql":
        key = zlib.crc32(f"ml-connector-run:{ws.config.connection}".encode())
        with ws.store.engine.connect() as conn:
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if not wait:
                    raise _already_running(ws)
                conn.commit()
                _sleep(5)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    path = ws.config.data_path / f"run-{ws.config.connection}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise _already_running(ws) from None
                _sleep(5)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _already_running(ws: Workspace) -> ConfigError:
    return ConfigError(
        f"another `ml-connector run` already serves connection {ws.config.connection!r}",
        hint="stop it first, or start this one with --standby to take over when it stops",
    )


def read_run_status(ws: Workspace) -> dict[str, Any] | None:
    """What the running daemon last wrote about itself (for ``status``), or None."""
    path = ws.config.data_path / STATUS_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


@dataclass
class DaemonStats:
    """Counters for the status file and tests."""

    batches: int = 0
    events: int = 0
    dropped_echo: int = 0
    polls: int = 0
    catch_ups: int = 0
    synced_from_cdc: int = 0
    last_error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ConnectorDaemon:
    """One connection's real-time sync: CDC subscriber + scheduled polls, serialised by one lock."""

    def __init__(
        self,
        ws: Workspace,
        transports: Transports | None = None,
        *,
        pubsub_endpoint: str | None = None,
        poll_at_start: bool = True,
        status_interval: float = 5.0,
        subscriber_options: dict[str, Any] | None = None,
        stream_wait: float = 300.0,
    ) -> None:
        self.ws = ws
        self.transports = transports
        self.endpoint = pubsub_endpoint or ws.config.salesforce.pubsub_endpoint
        self.poll_at_start = poll_at_start
        self.status_interval = status_interval
        self.stream_wait = stream_wait  # a keep-alive answers a quiet LATEST stream within 270 s (§6.3)
        self.subscriber_options = subscriber_options or {}
        self.flows = Flows()
        self.stats = DaemonStats()
        self.work = asyncio.Lock()
        self.subscriber: CdcSubscriber | None = None
        self.ready = asyncio.Event()  # set once polls at start are done and the stream is opening
        self._ctx: SyncContext | None = None
        self._stopping = asyncio.Event()
        mapping = ws.config.mapping
        self.owned_fields = tuple(
            f
            for f in (
                mapping.account_customer_id_field,
                mapping.account_status_field,
                mapping.account_credit_limit_field,
                mapping.account_ar_balance_field,
                mapping.account_synced_at_field,
                mapping.order_invoice_nbr_field,
                mapping.order_invoice_status_field,
            )
            if f
        )

    # -- lifecycle ----------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set (or :meth:`stop` is called); raises on auth/quota/config errors."""
        stop = stop or self._stopping
        async with open_sync(self.ws, self.transports, trigger="daemon") as ctx:
            self._ctx = ctx
            self.subscriber = self._make_subscriber(ctx)
            tasks = [asyncio.create_task(self._status_loop(), name="status")]
            try:
                # Stream first, poll second: with no stored replay id the stream starts at LATEST, so
                # waiting for its first answer before the start polls leaves no window in which a
                # change is neither streamed nor read.
                tasks.append(asyncio.create_task(self.subscriber.run(), name="cdc"))
                await self._until_streaming(tasks[-1])
                if self.poll_at_start:
                    await self._poll(list(self._enabled_flows()), trigger="start")
                tasks += [
                    asyncio.create_task(self._schedule(name), name=f"poll:{name}")
                    for name in self._enabled_flows()
                ]
                self.ready.set()
                stopper = asyncio.create_task(stop.wait(), name="stop")
                done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopper and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            finally:
                await self._shutdown(tasks)
                self._write_status()

    async def _until_streaming(self, cdc: asyncio.Task[Any]) -> None:
        deadline = asyncio.get_running_loop().time() + self.stream_wait
        while not (self.subscriber and self.subscriber.connected) and not cdc.done():
            if asyncio.get_running_loop().time() > deadline:
                log.warning("cdc.not_streaming_yet", endpoint=self.endpoint, waited=self.stream_wait)
                return
            await asyncio.sleep(0.05)
        if cdc.done() and cdc.exception() is not None:
            raise cdc.exception()  # type: ignore[misc]

    async def stop(self) -> None:
        """Ask the daemon to stop after the unit of work in flight."""
        self._stopping.set()

    async def _shutdown(self, tasks: list[asyncio.Task[Any]]) -> None:
        if self.subscriber is not None:
            await self.subscriber.stop()
        async with self.work:  # the unit of work in flight finishes first
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _enabled_flows(self) -> Iterator[str]:
        for name in ("accounts", "contacts", "orders", "credit"):
            if getattr(self.ws.config.flows, name).enabled:
                yield name

    # -- CDC ----------------------------------------------------------------------------------------
    def _make_subscriber(self, ctx: SyncContext) -> CdcSubscriber:
        client = ctx.salesforce.client

        async def token() -> tuple[str, str, str]:
            current = await client.token()
            return current.access_token, current.instance_url, current.org_id

        async def renew() -> None:
            await client.tokens.renew(client.tokens.token)

        return CdcSubscriber(
            endpoint=self.endpoint,
            token_provider=token,
            on_auth_refused=renew,
            replay_store=StoreReplayPosition(self.ws, CDC_TOPIC),
            batch_handler=self.handle_batch,
            on_replay_lost=self.catch_up,
            topic=CDC_TOPIC,
            client_name=self.ws.config.salesforce.call_options_client,
            **self.subscriber_options,
        )

    async def handle_batch(self, batch: CdcBatch) -> None:
        """Sync the records a batch names; returns only when their outcomes are in the ledger."""
        assert self._ctx is not None
        self.stats.batches += 1
        self.stats.events += len(batch.events)
        client_name = self.ws.config.salesforce.call_options_client
        wanted: dict[str, dict[str, None]] = {}
        for event in batch.changes:
            if not should_process(event, client_name, self.owned_fields):
                self.stats.dropped_echo += 1
                continue
            flow = FLOW_OF_ENTITY.get(event.entity)
            if flow and getattr(self.ws.config.flows, flow).enabled:
                wanted.setdefault(flow, {}).update(dict.fromkeys(event.record_ids))
        for entity, ids in batch.records_to_reread().items():
            flow = FLOW_OF_ENTITY.get(entity)
            if flow:
                wanted.setdefault(flow, {}).update(dict.fromkeys(ids))
        resync = [FLOW_OF_ENTITY[e] for e in batch.entities_to_resync() if e in FLOW_OF_ENTITY]
        if not wanted and not resync:
            return
        async with self.work:
            ctx = self._ctx.fork("cdc")
            for name in ("accounts", "contacts", "orders"):
                if name in wanted:
                    outcomes = await self.flows.sync_ids(
                        ctx, self.flows.record_flow(name), list(wanted[name])
                    )
                    self.stats.synced_from_cdc += len(outcomes)
            if resync:
                log.info("cdc.overflow_resync", flows=resync)
                await run_flows(ctx, resync, flows=self.flows)

    async def catch_up(self) -> None:
        """The stored replay id fell out of the 72-hour window: re-read every Salesforce flow.

        Why no change slips through: the subscriber takes its new position (the stream's latest
        replay id) *before* calling this, so every change committed from then on will be streamed;
        every change committed before it is read here, because each flow reads from its cursor —
        which only ever holds values of records already in the ledger — minus the overlap window.
        A change committed while the catch-up runs is both read and streamed; the content hash makes
        the second one a no-op.
        """
        self.stats.catch_ups += 1
        log.warning("cdc.replay_lost_catch_up")
        await self._poll(["accounts", "contacts", "orders"], trigger="catch-up")

    # -- polls --------------------------------------------------------------------------------------
    async def _poll(self, names: list[str], *, trigger: str) -> None:
        assert self._ctx is not None
        async with self.work:
            ctx = self._ctx.fork(trigger)
            results = await run_flows(
                ctx, [n for n in names if n in set(self._enabled_flows())], flows=self.flows
            )
        self.stats.polls += 1
        for result in results:
            if result.status == "failed":
                self.stats.last_error = f"{result.flow}: {result.error}"
                if isinstance(result.exception, AuthError | QuotaExhausted):
                    raise result.exception  # a human must act: stop loudly, don't spin

    async def _schedule(self, name: str) -> None:
        settings = getattr(self.ws.config.flows, name)
        cron = (
            None if settings.interval_seconds is not None else croniter(settings.schedule, datetime.now(UTC))
        )
        while True:
            if cron is not None:
                delay = max(0.0, (cron.get_next(datetime) - datetime.now(UTC)).total_seconds())
            else:
                delay = float(settings.interval_seconds)
            await asyncio.sleep(delay)
            try:
                await self._poll([name], trigger="schedule")
            except (AuthError, QuotaExhausted, ConfigError):
                raise
            except ConnectorError as exc:  # the next poll tries again
                self.stats.last_error = f"{name}: {exc}"

    # -- status -------------------------------------------------------------------------------------
    async def _status_loop(self) -> None:
        while True:
            self._write_status()
            await asyncio.sleep(self.status_interval)

    def _write_status(self) -> None:
        sub = self.subscriber
        status = {
            "pid": os.getpid(),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "started_at": self.stats.started_at.isoformat(timespec="seconds"),
            "stopping": self._stopping.is_set(),
            "cdc": {
                "endpoint": self.endpoint,
                "connected": bool(sub and sub.connected),
                "connected_since": sub.connected_since.isoformat(timespec="seconds")
                if sub and sub.connected_since
                else None,
                "last_event_at": sub.last_event_at.isoformat(timespec="seconds")
                if sub and sub.last_event_at
                else None,
                "last_error": sub.last_error if sub else None,
                "reconnects": sub.reconnects if sub else 0,
                "replay_losses": sub.replay_losses if sub else 0,
            },
            "batches": self.stats.batches,
            "events": self.stats.events,
            "dropped_echo": self.stats.dropped_echo,
            "polls": self.stats.polls,
            "catch_ups": self.stats.catch_ups,
            "last_error": self.stats.last_error,
        }
        path = self.ws.config.data_path / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=1), "utf-8")
        tmp.replace(path)


def serve(ws: Workspace, *, standby: bool = False, transports: Transports | None = None) -> ConnectorDaemon:
    """Run the daemon for ``ws`` until SIGTERM/SIGINT; one ``run`` per connection (``standby`` waits)."""
    import signal

    with single_instance(ws, wait=standby):
        daemon = ConnectorDaemon(ws, transports)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, daemon._stopping.set)
            await daemon.run()

        asyncio.run(main())
        return daemon


@contextlib.asynccontextmanager
async def running(daemon: ConnectorDaemon) -> AsyncIterator[ConnectorDaemon]:
    """Run ``daemon`` in the background for the block (tests, benchmarks); stops it cleanly after."""
    task = asyncio.create_task(daemon.run())
    ready = asyncio.create_task(daemon.ready.wait())
    done, _ = await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()
    try:
        yield daemon
    finally:
        await daemon.stop()
        await task
