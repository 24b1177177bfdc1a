"""``CdcSubscriber``: Change Data Capture over the Pub/Sub API, at-least-once, position stored last.

The loop (reference salesforce-api.md §6.3, §6.4):

1. Start from the stored replay id (CUSTOM) or, with none, at LATEST.
2. Ask for ``batch_size`` events; hand each ``FetchResponse``'s events to ``batch_handler`` as one
   :class:`CdcBatch`; **only after the handler returned** store the batch's replay id (the handler
   records the ledger), then — when nothing more is owed — ask for the next batch. So the server
   never runs ahead of the handler, and a crash replays at most the batch in flight.
   A keep-alive (no events) carries ``latest_replay_id``; nothing is in flight then, so it is stored
   too (Salesforce's advice, §6.3): a quiet org does not let the stored position age out.
3. A refused token (``UNAUTHENTICATED`` / ``service.auth.error``) → ``on_auth_refused()`` forces a
   new token and the stream reopens at once; a second refusal in a row backs off.
4. Any other stream error → reconnect with jittered exponential backoff from the last stored position.
5. ``…fetch.replayid.corrupted`` (older than the 72-hour window, or the org moved) → see
   :meth:`CdcSubscriber._recover_lost_position`: the new position is taken *before* the catch-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc

from ml_connector.errors import AuthError, ConfigError, QuotaExhausted
from ml_connector.logging import get_logger
from ml_connector.salesforce.pubsub import pubsub_api_pb2, pubsub_api_pb2_grpc
from ml_connector.salesforce.pubsub._avro import SchemaCache
from ml_connector.salesforce.pubsub._events import CdcBatch, decode_change_event

__all__ = [
    "DEFAULT_ENDPOINT",
    "CdcSubscriber",
    "MemoryReplayStore",
    "ReplayStore",
    "TokenProvider",
    "error_code_of",
]

# The generated modules are untyped for mypy (pyproject override): use them through Any.
pb: Any = pubsub_api_pb2
pb_grpc: Any = pubsub_api_pb2_grpc

DEFAULT_ENDPOINT = "api.pubsub.salesforce.com:7443"  # §6.1
MAX_BATCH = 100  # §6.3: num_requested is capped at 100 per Subscribe call
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
_AUTH_CODES = ("service.auth.error", "service.auth.refresh.invalid", "service.auth.headers.invalid")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

TokenProvider = Callable[[], Awaitable[tuple[str, str, str]]]
"""Returns ``(access_token, instance_url, org_id)`` — the §6.1 metadata."""

log = get_logger("ml_connector.salesforce.pubsub")


class ReplayStore(Protocol):
    """Where the subscriber keeps its replay position (raw bytes, §6.4)."""

    async def load(self) -> bytes | None:
        """The stored replay id, or None before the first one."""
        ...

    async def save(self, replay_id: bytes) -> None:
        """Store ``replay_id`` (called only after the events up to it were handled)."""
        ...


class MemoryReplayStore:
    """A :class:`ReplayStore` in memory (tests, demos); ``history`` lists every save."""

    def __init__(self, replay_id: bytes | None = None) -> None:
        self.replay_id = replay_id
        self.history: list[bytes] = []

    async def load(self) -> bytes | None:
        """The stored replay id."""
        return self.replay_id

    async def save(self, replay_id: bytes) -> None:
        """Remember ``replay_id``."""
        self.replay_id = replay_id
        self.history.append(replay_id)


def error_code_of(error: grpc.aio.AioRpcError) -> str:
    """The Salesforce ``error-code`` trailer of a failed call ("" when absent, §6.4)."""
    for key, value in error.trailing_metadata() or ():
        if key == "error-code":
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def _is_auth_refusal(error: grpc.aio.AioRpcError) -> bool:
    code = error_code_of(error)
    return error.code() == grpc.StatusCode.UNAUTHENTICATED or any(code.endswith(c) for c in _AUTH_CODES)


def _is_replay_lost(error: grpc.aio.AioRpcError) -> bool:
    return error_code_of(error) == REPLAY_CORRUPTED


class _PositionProbeFailed(Exception):
    """The LATEST probe stream ended without telling us a position."""


class CdcSubscriber:
    """Subscribes one topic, decodes change events and hands them over in batches.

    ``endpoint`` is ``host:port``; ``tls=None`` means TLS except for a loopback host (the sandbox).
    ``on_replay_lost`` is the full catch-up (SOQL re-read of the affected flows) to run when the
    stored position fell out of the 72-hour window. ``position_probe_timeout`` bounds the wait for the
    server's first answer on a LATEST stream (a keep-alive comes within 270 s, §6.3). After
    ``max_auth_refusals`` refusals in a row, each with a fresh token, :meth:`run` raises ``AuthError``.
    """

    def __init__(
        self,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        token_provider: TokenProvider,
        on_auth_refused: Callable[[], Awaitable[object]],
        replay_store: ReplayStore,
        batch_handler: Callable[[CdcBatch], Awaitable[object]],
        on_replay_lost: Callable[[], Awaitable[object]] | None = None,
        topic: str = "/data/ChangeEvents",
        client_name: str = "ml-connector",
        batch_size: int = 100,
        tls: bool | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        position_probe_timeout: float = 300.0,
        max_auth_refusals: int = 3,
        channel_credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH} (§6.3)")
        self.endpoint = endpoint
        self.topic = topic
        self.client_name = client_name
        self.batch_size = batch_size
        host = endpoint.rsplit(":", 1)[0] if ":" in endpoint else endpoint
        self.tls = tls if tls is not None else host.lower() not in _LOOPBACK
        self._token_provider = token_provider
        self._on_auth_refused = on_auth_refused
        self._replay_store = replay_store
        self._batch_handler = batch_handler
        self._on_replay_lost = on_replay_lost
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._probe_timeout = position_probe_timeout
        self._max_auth_refusals = max_auth_refusals
        self._answered = False
        self._credentials = channel_credentials
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._schemas = SchemaCache(self._fetch_schema)
        self._stopping = asyncio.Event()
        self._call: Any = None
        self._handling = False
        # status, for ``ml-connector status``
        self.connected = False
        self.connected_since: datetime | None = None
        self.last_event_at: datetime | None = None
        self.last_replay_id: bytes | None = None
        self.last_error: str | None = None
        self.reconnects = 0
        self.replay_losses = 0

    def status(self) -> dict[str, Any]:
        """JSON-ready state for ``ml-connector status``: connected since when, last event, errors."""
        return {
            "topic": self.topic,
            "endpoint": self.endpoint,
            "connected": self.connected,
            "connected_since": self.connected_since.isoformat() if self.connected_since else None,
            "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
            "last_replay_id": self.last_replay_id.hex() if self.last_replay_id else None,
            "last_error": self.last_error,
            "reconnects": self.reconnects,
            "replay_losses": self.replay_losses,
        }

    @property
    def schema_fetches(self) -> int:
        """How many ``GetSchema`` calls were made (once per schema id)."""
        return self._schemas.fetches

    # --- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Subscribe until :meth:`stop` (then returns); reconnects on errors.

        Raises ``AuthError`` when fresh tokens keep being refused, and lets ``AuthError``,
        ``ConfigError`` and ``QuotaExhausted`` from the handler or token manager through.
        """
        self._channel = (
            grpc.aio.secure_channel(self.endpoint, self._credentials or grpc.ssl_channel_credentials())
            if self.tls
            else grpc.aio.insecure_channel(self.endpoint)
        )
        self._stub = pb_grpc.PubSubStub(self._channel)
        failures = 0  # consecutive attempts that got no answer from the server
        auth_refusals = 0  # consecutive refusals, each after a fresh token
        lost: grpc.aio.AioRpcError | None = None
        refresh_token = False
        try:
            while not self._stopping.is_set():
                self._answered = False
                try:
                    if refresh_token:
                        refresh_token = False
                        await self._on_auth_refused()
                    await self._refresh_metadata()
                    if lost is not None:
                        await self._recover_lost_position(lost)
                        lost = None
                        continue
                    await self._subscribe_once()
                except grpc.aio.AioRpcError as error:
                    if self._stopping.is_set():
                        break
                    self._note_error(error)
                    if self._answered:  # the stream worked for a while: start counting afresh
                        failures = auth_refusals = 0
                    if _is_replay_lost(error):
                        lost = error
                        continue
                    if _is_auth_refusal(error):
                        auth_refusals += 1
                        if auth_refusals > self._max_auth_refusals:
                            raise AuthError(
                                f"Pub/Sub refused {auth_refusals - 1} freshly issued tokens in a row "
                                f"({error_code_of(error) or error.code().name})",
                                hint="check the org id (tenantid), the instance URL and that the integration "
                                "user may read the change events (View All Data, §6.5)",
                            ) from error
                        refresh_token = True
                        if auth_refusals == 1:
                            continue  # a token expired: get a new one and reopen at once
                    failures += 1
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        break  # stop() cancelled the open stream
                    raise
                except (_PositionProbeFailed, TimeoutError) as error:
                    self.last_error = str(error) or error.__class__.__name__
                    failures += 1
                except (AuthError, ConfigError, QuotaExhausted):
                    raise  # the handler or the token manager says: stop, a human must act
                except Exception as error:
                    # The handler (or decoding, or the token manager) failed: the position was not
                    # stored, so the batch comes again after the backoff — at-least-once delivery.
                    self.last_error = f"{error.__class__.__name__}: {error}"
                    log.exception("cdc.batch_failed", topic=self.topic)
                    failures = 1 if self._answered else failures + 1
                else:
                    failures = 0 if self._answered else failures + 1  # the server ended the stream
                if not self._stopping.is_set():
                    self.reconnects += 1
                    await self._backoff(failures)
        finally:
            self.connected = False
            await self._channel.close()

    async def stop(self) -> None:
        """Stop after the batch in flight is handled and its position stored."""
        self._stopping.set()
        if self._call is not None and not self._handling:
            self._call.cancel()

    # --- one subscription -------------------------------------------------------------------------

    async def _refresh_metadata(self) -> None:
        token, instance_url, org_id = await self._token_provider()
        # §6.1: every RPC carries accesstoken, instanceurl and tenantid.
        self._metadata = (("accesstoken", token), ("instanceurl", instance_url), ("tenantid", org_id))

    async def _subscribe_once(self) -> None:
        """One Subscribe stream from the stored position, until it ends (``_answered`` if it worked)."""
        stored = await self._replay_store.load()
        first = pb.FetchRequest(topic_name=self.topic, num_requested=self.batch_size)
        if stored:
            first.replay_preset = pb.CUSTOM
            first.replay_id = stored
        else:
            first.replay_preset = pb.LATEST
        requests: asyncio.Queue[Any] = asyncio.Queue()
        requests.put_nowait(first)
        call = self._stub.Subscribe(_drain(requests), metadata=self._metadata)
        self._call = call
        try:
            async for response in call:
                if not self._answered:
                    self._answered = True
                    self.connected, self.connected_since = True, datetime.now(UTC)
                    log.info("cdc.connected", topic=self.topic, endpoint=self.endpoint)
                await self._handle_response(response)
                if self._stopping.is_set():
                    call.cancel()
                    break
                if response.pending_num_requested == 0:
                    # Flow control (§6.3): ask for more only once the last batch is handled.
                    requests.put_nowait(pb.FetchRequest(topic_name=self.topic, num_requested=self.batch_size))
        except asyncio.CancelledError:
            if not self._stopping.is_set():
                raise
        finally:
            self._call = None
            self.connected = False
            requests.put_nowait(None)

    async def _handle_response(self, response: Any) -> None:
        if not response.events:
            latest = bytes(response.latest_replay_id)
            if latest and latest != self.last_replay_id:
                await self._save_position(latest)
            return
        self._handling = True
        try:
            events = []
            for consumer_event in response.events:
                schema = await self._schemas.get(consumer_event.event.schema_id)
                events.append(
                    decode_change_event(
                        schema,
                        bytes(consumer_event.event.payload),
                        replay_id=bytes(consumer_event.replay_id),
                        event_id=consumer_event.event.id,
                    )
                )
            batch = CdcBatch(self.topic, tuple(events), events[-1].replay_id)
            await self._batch_handler(batch)
            # The handler returned: its records are in the ledger; only now may the position move.
            await self._save_position(batch.replay_id)
            self.last_event_at = datetime.now(UTC)
        finally:
            self._handling = False

    async def _save_position(self, replay_id: bytes) -> None:
        await self._replay_store.save(replay_id)
        self.last_replay_id = replay_id

    async def _fetch_schema(self, schema_id: str) -> str:
        info = await self._stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata)
        return str(info.schema_json)

    # --- the lost position ------------------------------------------------------------------------

    async def _recover_lost_position(self, error: grpc.aio.AioRpcError) -> None:
        """Stored replay id out of the retention window (§6.4): catch up, then go on from LATEST.

        Why no change can slip through: before the catch-up starts we open a LATEST stream and wait
        for the server's first answer — an event (its replay id R) or a keep-alive (its
        ``latest_replay_id`` R). Every change at or before R was committed before that answer
        arrived, hence before the catch-up starts reading, so the catch-up sees it. Every change
        after R is delivered by the CUSTOM subscription from R that follows the catch-up (R is
        seconds to minutes old then, well inside 72 hours). R is stored only after the catch-up
        returned, so a crash during the catch-up leaves the stale id in place and repeats it.
        """
        self.replay_losses += 1
        log.warning(
            "cdc.replay_lost",
            topic=self.topic,
            error_code=error_code_of(error),
            details=error.details(),
            action="full catch-up, then continue from LATEST",
        )
        position = await self._probe_latest_position()
        if self._on_replay_lost is not None:
            await self._on_replay_lost()
        else:
            log.warning(
                "cdc.replay_lost.no_catch_up", topic=self.topic, hint="changes in the gap are not re-read"
            )
        await self._save_position(position)
        log.info("cdc.replay_recovered", topic=self.topic)

    async def _probe_latest_position(self) -> bytes:
        """The tip of the topic as the server sees it now: first answer of a LATEST stream."""
        requests: asyncio.Queue[Any] = asyncio.Queue()
        requests.put_nowait(pb.FetchRequest(topic_name=self.topic, replay_preset=pb.LATEST, num_requested=1))
        call = self._stub.Subscribe(_drain(requests), metadata=self._metadata)
        self._call = call
        try:
            async with asyncio.timeout(self._probe_timeout):
                async for response in call:
                    if response.events:
                        return bytes(response.events[0].replay_id)
                    if response.latest_replay_id:
                        return bytes(response.latest_replay_id)
        finally:
            self._call = None
            call.cancel()
            requests.put_nowait(None)
        raise _PositionProbeFailed("the LATEST stream ended before the server named a position")

    # --- waiting ----------------------------------------------------------------------------------

    def _note_error(self, error: grpc.aio.AioRpcError) -> None:
        self.last_error = f"{error.code().name}: {error.details()} [{error_code_of(error)}]"
        log.warning(
            "cdc.stream_error", topic=self.topic, status=error.code().name, error_code=error_code_of(error)
        )

    async def _backoff(self, failures: int) -> None:
        """Jittered exponential wait (full jitter over the upper half), cut short by :meth:`stop`."""
        ceiling = min(self._backoff_max, self._backoff_initial * 2 ** max(failures - 1, 0))
        delay = random.uniform(ceiling / 2, ceiling)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)


async def _drain(requests: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    """The request side of a Subscribe stream: whatever is queued, until ``None``."""
    while True:
        request = await requests.get()
        if request is None:
            return
        yield request
