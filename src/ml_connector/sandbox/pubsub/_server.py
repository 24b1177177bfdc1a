"""The Pub/Sub sandbox: a ``grpc.aio`` server for ``eventbus.v1.PubSub`` (reference §6).

Behaviour, each with its reference section:

- Metadata auth on every RPC (§6.1): ``accesstoken`` must be a live REST sandbox session and
  ``tenantid`` the org id, else ``UNAUTHENTICATED`` with trailer ``error-code:
  sfdc.platform.eventbus.grpc.service.auth.error`` (missing metadata: ``…service.auth.headers.invalid``).
  UNVERIFIED (§6.4, §10): the gRPC status paired with ``service.auth.error``; we use UNAUTHENTICATED.
- ``GetTopic`` / ``GetSchema`` for the three entity channels and ``/data/ChangeEvents`` (§6.5).
- ``Subscribe`` (§6.3): credit from ``num_requested`` (outstanding credit capped at 100; larger values
  are treated as 100, as the reference states); ``num_requested <= 0`` → INVALID_ARGUMENT
  ``…subscription.fetch.requested.events.invalid``; a changed topic → ``…fetch.topic.mismatch``;
  CUSTOM without replay id → ``…fetch.replayid.validation.failed``; a stale or unknown CUSTOM replay id
  → INVALID_ARGUMENT ``…fetch.replayid.corrupted`` (§6.4). While events are owed and none come, an
  empty keep-alive ``FetchResponse`` with ``latest_replay_id`` is sent every ``keepalive_seconds``
  (the reference allows up to 270 s). With ``daily_delivery_limit`` set, delivering past it ends
  the stream with ``…subscription.limit.exceeded`` (§6.9). Nothing owed and no new request for
  ``idle_close_seconds`` (60 s, §6.3) ends the stream.
- Errors end the stream; the status message ends with ``rpcId: <id>`` and the trailers carry
  ``error-code`` and ``rpc-id`` (§6.4; the ``rpc-id`` key name is UNVERIFIED).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_connector.salesforce.pubsub import pubsub_api_pb2, pubsub_api_pb2_grpc
from ml_connector.sandbox.pubsub._events import (
    CDC_ENTITIES,
    RETENTION,
    ChangeSource,
    CommittedChange,
    EventBus,
    ReplayIdCorrupted,
)
from ml_connector.sandbox.pubsub._schema import EntityField

if TYPE_CHECKING:
    from ml_connector.sandbox.salesforce import SalesforceSandbox

__all__ = ["PubSubSandbox", "SalesforceChangeSource", "pubsub_control_routes"]

# The generated modules are untyped for mypy (pyproject override): use them through Any.
pb: Any = pubsub_api_pb2
pb_grpc: Any = pubsub_api_pb2_grpc

_CODE_PREFIX = "sfdc.platform.eventbus.grpc."
MAX_NUM_REQUESTED = 100  # §6.3
ALL_CHANGES_TOPIC = "/data/ChangeEvents"


class SalesforceChangeSource:
    """Adapter: the :class:`ChangeSource` view of a ``SalesforceSandbox``."""

    def __init__(self, sandbox: SalesforceSandbox) -> None:
        self._sandbox = sandbox

    @property
    def org_id(self) -> str:
        """The sandbox org id."""
        return self._sandbox.org_id

    def now(self) -> datetime:
        """The sandbox clock."""
        return self._sandbox.control.clock.now()

    def token_is_valid(self, access_token: str) -> bool:
        """A live REST session (this call restarts its idle window, as any API call does)."""
        return self._sandbox.sessions.touch(access_token) is not None

    def add_change_listener(self, listener: Callable[[CommittedChange], None]) -> None:
        """Subscribe to the org's change log."""
        self._sandbox.add_change_listener(listener)

    def entity_fields(self, entity: str) -> Sequence[EntityField]:
        """The entity's fields from the REST sandbox's describe metadata."""
        from ml_connector.sandbox.salesforce._schema import SCHEMA

        return [EntityField(f.name, f.type) for f in SCHEMA[entity].fields.values()]


class _StreamError(Exception):
    def __init__(self, status: grpc.StatusCode, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


def _topics() -> dict[str, frozenset[str]]:
    topics = {f"/data/{entity}ChangeEvent": frozenset({entity}) for entity in CDC_ENTITIES}
    topics[ALL_CHANGES_TOPIC] = frozenset(CDC_ENTITIES)
    return topics


class _PubSubServicer(pb_grpc.PubSubServicer):  # type: ignore[misc]
    def __init__(self, sandbox: PubSubSandbox) -> None:
        self._ps = sandbox

    # --- helpers ----------------------------------------------------------------------------------

    async def _abort(self, context: grpc.aio.ServicerContext, error: _StreamError, rpc_id: str) -> NoReturn:
        await context.abort(
            error.status,
            f"{error.message} rpcId: {rpc_id}",
            trailing_metadata=(("error-code", _CODE_PREFIX + error.error_code), ("rpc-id", rpc_id)),
        )
        raise AssertionError("unreachable")  # pragma: no cover - abort raises

    def _authenticate(self, context: grpc.aio.ServicerContext) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        token, tenant = metadata.get("accesstoken"), metadata.get("tenantid")
        if not token or not tenant or not metadata.get("instanceurl"):
            raise _StreamError(
                grpc.StatusCode.UNAUTHENTICATED,
                "service.auth.headers.invalid",
                "accesstoken, instanceurl and tenantid metadata are required",
            )
        if tenant != self._ps.source.org_id or not self._ps.source.token_is_valid(str(token)):
            raise _StreamError(
                grpc.StatusCode.UNAUTHENTICATED,
                "service.auth.error",
                "The session is invalid or has expired.",
            )

    def _entities_of(self, topic: str) -> frozenset[str]:
        entities = self._ps.topics.get(topic)
        if entities is None:
            # UNVERIFIED (§6.4, §10): status and the spelling topic.not.found vs subscription.topic.notfound.
            raise _StreamError(grpc.StatusCode.NOT_FOUND, "topic.not.found", f"Topic {topic} not found.")
        return entities

    # --- unary RPCs -------------------------------------------------------------------------------

    async def GetTopic(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        rpc_id = str(uuid.uuid4())
        try:
            self._authenticate(context)
            entities = self._entities_of(request.topic_name)
        except _StreamError as error:
            await self._abort(context, error, rpc_id)
        # UNVERIFIED: which schema id /data/ChangeEvents reports; every event carries its own anyway.
        first = next(e for e in CDC_ENTITIES if e in entities)
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self._ps.source.org_id,
            can_publish=False,
            can_subscribe=True,
            schema_id=self._ps.bus.schemas[first].schema_id,
            rpc_id=rpc_id,
        )

    async def GetSchema(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        rpc_id = str(uuid.uuid4())
        try:
            self._authenticate(context)
            schema = self._ps.bus.schemas_by_id.get(request.schema_id)
            if schema is None:
                # UNVERIFIED: the reference names no status or code for an unknown schema id.
                raise _StreamError(grpc.StatusCode.NOT_FOUND, "schema.not.found", "Schema not found.")
        except _StreamError as error:
            await self._abort(context, error, rpc_id)
        return pb.SchemaInfo(schema_json=schema.schema_json, schema_id=schema.schema_id, rpc_id=rpc_id)

    # --- Subscribe --------------------------------------------------------------------------------

    async def Subscribe(
        self, request_iterator: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        rpc_id = str(uuid.uuid4())
        bus, ps = self._ps.bus, self._ps
        state = _SubscribeState()
        signal = bus.watch()
        reader = asyncio.ensure_future(self._read_requests(request_iterator, state, signal))
        try:
            self._authenticate(context)
            await state.first.wait()
            if state.error:
                raise state.error
            position = state.position
            while True:
                if state.error:
                    raise state.error
                if state.closed and state.credit == 0:
                    return
                # Clear before looking, so a change published after the look wakes the wait below.
                signal.clear()
                if state.credit > 0 and not ps.allocation_left():
                    raise _StreamError(
                        # UNVERIFIED (§6.9): the gRPC status paired with subscription.limit.exceeded.
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "subscription.limit.exceeded",
                        "You have exceeded the event delivery limit for your org.",
                    )
                if state.credit > 0:
                    limit = min(state.credit, ps.allocation_left())
                    events, scanned = bus.events_after(position, state.entities, limit)
                    position = scanned
                    if events:
                        state.credit -= len(events)
                        state.last_request = asyncio.get_running_loop().time()
                        ps.count_delivery(len(events))
                        yield pb.FetchResponse(
                            events=[
                                pb.ConsumerEvent(
                                    event=pb.ProducerEvent(
                                        id=e.event_id, schema_id=e.schema_id, payload=e.payload
                                    ),
                                    replay_id=bus.replay_id(e.position, e.stored_at),
                                )
                                for e in events
                            ],
                            latest_replay_id=bus.replay_id(events[-1].position, events[-1].stored_at),
                            rpc_id=rpc_id,
                            pending_num_requested=state.credit,
                        )
                        continue
                timeout = ps.keepalive_seconds if state.credit > 0 else ps.idle_close_seconds
                try:
                    await asyncio.wait_for(signal.wait(), timeout)
                except TimeoutError:
                    if state.credit > 0:
                        # §6.3: keep-alive — no events, the latest position, what is still owed.
                        # Nothing was published since the scan above (the signal stayed clear), so
                        # ``position`` is the tip of the bus as far as this topic is concerned.
                        yield pb.FetchResponse(
                            latest_replay_id=bus.replay_id(position),
                            rpc_id=rpc_id,
                            pending_num_requested=state.credit,
                        )
                    elif asyncio.get_running_loop().time() - state.last_request >= ps.idle_close_seconds:
                        # UNVERIFIED (§6.3): how the server closes an idle stream; we end it cleanly.
                        return
        except _StreamError as error:
            await self._abort(context, error, rpc_id)
        finally:
            reader.cancel()
            bus.unwatch(signal)

    async def _read_requests(
        self, requests: AsyncIterator[Any], state: _SubscribeState, signal: asyncio.Event
    ) -> None:
        bus = self._ps.bus
        try:
            async for request in requests:
                state.last_request = asyncio.get_running_loop().time()
                if not state.first.is_set():
                    state.entities = self._entities_of(request.topic_name)
                    state.topic = request.topic_name
                    if request.replay_preset == pb.CUSTOM:
                        if not request.replay_id:
                            raise _StreamError(
                                grpc.StatusCode.INVALID_ARGUMENT,
                                "subscription.fetch.replayid.validation.failed",
                                "A CUSTOM replay preset needs a replay ID.",
                            )
                        try:
                            state.position = bus.position_of(bytes(request.replay_id))
                        except ReplayIdCorrupted as exc:
                            raise _StreamError(
                                grpc.StatusCode.INVALID_ARGUMENT,
                                "subscription.fetch.replayid.corrupted",
                                "The Replay ID validation failed. The specified Replay ID value is invalid. "
                                "One possible cause is that it's an old Replay ID outside the 72-hour "
                                f"retention period ({exc}).",
                            ) from exc
                    elif request.replay_preset == pb.EARLIEST:
                        state.position = bus.earliest_position()
                    else:
                        state.position = bus.latest_position()
                elif request.topic_name and request.topic_name != state.topic:
                    raise _StreamError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "subscription.fetch.topic.mismatch",
                        "The topic name in a FetchRequest must not change within a subscription.",
                    )
                if request.num_requested <= 0:
                    raise _StreamError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "subscription.fetch.requested.events.invalid",
                        "num_requested must be greater than 0.",
                    )
                # §6.3: at most 100 outstanding per Subscribe call; larger values are treated as 100.
                state.credit = min(MAX_NUM_REQUESTED, state.credit + request.num_requested)
                state.first.set()
                signal.set()
            state.closed = True
        except _StreamError as error:
            state.error = error
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-read
            state.closed = True
        state.first.set()
        signal.set()


class _SubscribeState:
    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.entities: frozenset[str] = frozenset()
        self.topic = ""
        self.position = 0
        self.credit = 0
        self.closed = False
        self.error: _StreamError | None = None
        self.last_request = asyncio.get_running_loop().time()


class PubSubSandbox:
    """The Pub/Sub gRPC fake of one Salesforce sandbox org.

    Build it from a ``SalesforceSandbox`` with :meth:`for_salesforce` (or from any
    :class:`ChangeSource`), ``await start()`` it, point a subscriber at ``127.0.0.1:<port>``.
    """

    def __init__(
        self,
        source: ChangeSource,
        *,
        retention: timedelta = RETENTION,
        keepalive_seconds: float = 5.0,
        idle_close_seconds: float = 60.0,
        daily_delivery_limit: int | None = None,
    ) -> None:
        self.source = source
        self.bus = EventBus(source, retention=retention)
        self.topics = _topics()
        self.keepalive_seconds = keepalive_seconds
        self.idle_close_seconds = idle_close_seconds
        self.delivered = 0
        # §6.9: events delivered in the last 24 h (rolling, sandbox clock), all subscribers together.
        self.daily_delivery_limit = daily_delivery_limit
        self._deliveries: deque[tuple[datetime, int]] = deque()
        self.host = "127.0.0.1"
        self._port: int | None = None
        self._server: grpc.aio.Server | None = None

    @classmethod
    def for_salesforce(cls, sandbox: SalesforceSandbox, **options: Any) -> PubSubSandbox:
        """A Pub/Sub sandbox streaming the changes of a ``SalesforceSandbox``.

        It also hooks the REST sandbox's reset (``POST /_sandbox/reset``): the event bus empties
        with the org, and replay ids handed out before stop being valid.
        """
        pubsub = cls(SalesforceChangeSource(sandbox), **options)
        org_reset = sandbox.control.on_reset

        def reset_both() -> None:
            if org_reset is not None:
                org_reset()
            pubsub.reset()

        sandbox.control.on_reset = reset_both
        return pubsub

    def allocation_left(self) -> int:
        """Events that may still be delivered under the daily delivery allocation (§6.9)."""
        if self.daily_delivery_limit is None:
            return MAX_NUM_REQUESTED
        horizon = self.source.now() - timedelta(hours=24)
        while self._deliveries and self._deliveries[0][0] <= horizon:
            self._deliveries.popleft()
        used = sum(count for _, count in self._deliveries)
        return max(self.daily_delivery_limit - used, 0)

    def count_delivery(self, count: int) -> None:
        """Record ``count`` delivered events."""
        self.delivered += count
        self._deliveries.append((self.source.now(), count))

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the Pub/Sub sandbox is not started")
        return self._port

    @property
    def endpoint(self) -> str:
        """``host:port`` for a subscriber."""
        return f"{self.host}:{self.port}"

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_certificate_chain: bytes | None = None,
        tls_private_key: bytes | None = None,
    ) -> int:
        """Serve on ``host:port`` (0 picks a free port) in the running event loop; returns the port.

        Plaintext by default (loopback); with a PEM certificate chain and key it serves TLS as the
        real endpoint does (§6.1).
        """
        server = grpc.aio.server()
        pb_grpc.add_PubSubServicer_to_server(_PubSubServicer(self), server)
        if tls_certificate_chain is not None and tls_private_key is not None:
            credentials = grpc.ssl_server_credentials([(tls_private_key, tls_certificate_chain)])
            bound = server.add_secure_port(f"{host}:{port}", credentials)
        else:
            bound = server.add_insecure_port(f"{host}:{port}")
        await server.start()
        self._server, self._port, self.host = server, int(bound), host
        return self.port

    async def stop(self, grace: float | None = 0.5) -> None:
        """Stop serving (open streams end)."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def inject_gap(self, entity: str, record_ids: Sequence[str], change_type: str = "GAP_UPDATE") -> None:
        """Publish a gap event for ``record_ids`` of ``entity`` (§6.8)."""
        self.bus.inject_gap(entity, record_ids, change_type)

    def inject_overflow(self, entity: str) -> None:
        """Publish the overflow event of ``entity`` (§6.8)."""
        self.bus.inject_overflow(entity)

    def reset(self) -> None:
        """Drop every stored event (old replay ids stop being valid) and the delivery count."""
        self.bus.reset()
        self._deliveries.clear()
        self.delivered = 0


def pubsub_control_routes(sandbox: PubSubSandbox, prefix: str = "/_sandbox/pubsub") -> list[Route]:
    """Starlette routes to mount next to the REST fake's ``/_sandbox/`` ones.

    ``POST {prefix}/gap`` JSON ``{"entity", "record_ids", "change_type"?}``;
    ``POST {prefix}/overflow`` JSON ``{"entity"}``; ``GET {prefix}/stats``.
    """

    async def gap(request: Request) -> Response:
        body = await request.json()
        try:
            sandbox.inject_gap(
                str(body["entity"]), list(body["record_ids"]), body.get("change_type", "GAP_UPDATE")
            )
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"injected": "gap", "latest": sandbox.bus.latest_position()})

    async def overflow(request: Request) -> Response:
        body = await request.json()
        try:
            sandbox.inject_overflow(str(body["entity"]))
        except (KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"injected": "overflow", "latest": sandbox.bus.latest_position()})

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {"events": sandbox.bus.latest_position(), "delivered": sandbox.delivered, "port": sandbox._port}
        )

    return [
        Route(f"{prefix}/gap", gap, methods=["POST"]),
        Route(f"{prefix}/overflow", overflow, methods=["POST"]),
        Route(f"{prefix}/stats", stats, methods=["GET"]),
    ]
