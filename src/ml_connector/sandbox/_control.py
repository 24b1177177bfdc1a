"""What both HTTP fakes share: a movable clock, injected faults, call statistics, ``/_sandbox/``.

The control surface (DESIGN.md, "Sandbox contract"):

- ``POST /_sandbox/faults``  JSON ``{"latency_ms", "latency_jitter_ms", "error_500_rate", "error_429_rate",
  "lost_response_rate", "token_expiry_seconds", "seed"}``; any subset, the rest keep their values.
- ``POST /_sandbox/clock``   JSON ``{"advance_seconds": N}`` or ``{"set": "<ISO datetime>"}``.
- ``GET  /_sandbox/stats``   calls by ``"METHOD /route/template"``, by status, records by object.
- ``POST /_sandbox/reset``   empty the fake (and its stats, faults back to none).
- ``POST /_sandbox/seed``    JSON of seed options, passed to the fake's ``seed``.

A "lost response" lets the request change the fake's state, then drops the connection before the
response body: over a real socket the client sees the connection close mid-response; in-process,
:class:`SandboxTransport` turns it into :class:`httpx2.RemoteProtocolError`, the same error.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CONTROL_PREFIX",
    "CallStats",
    "ConnectionDropped",
    "FaultMiddleware",
    "Faults",
    "SandboxClock",
    "SandboxControl",
    "SandboxTransport",
    "control_routes",
]

CONTROL_PREFIX = "/_sandbox"


class SandboxClock:
    """Wall-clock time plus an offset that tests move forward (token expiry, CDC retention)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        """The sandbox's current time, timezone-aware UTC."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (never back) and return the new time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (aware datetime)."""
        if when.tzinfo is None:
            raise ValueError("the sandbox clock needs a timezone-aware datetime")
        with self._lock:
            self._offset = when - datetime.now(UTC)
        return self.now()


@dataclass
class Faults:
    """Faults a fake injects into calls outside ``/_sandbox/`` (rates are 0.0-1.0)."""

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_500_rate: float = 0.0
    error_429_rate: float = 0.0
    lost_response_rate: float = 0.0
    token_expiry_seconds: float | None = None  # every issued token dies after this long, if set
    seed: int | None = None

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial JSON update, refusing unknown keys and bad values."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(
                f"unknown fault setting(s): {', '.join(sorted(unknown))}; known: {sorted(known)}"
            )
        for key, value in changes.items():
            if key.endswith("_rate") and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{key} must be between 0 and 1")
            setattr(self, key, value)


class CallStats:
    """API calls counted by method and route template, by status, and which ones were faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()

    def record(self, key: str, status: int) -> None:
        """Count one call."""
        with self._lock:
            self.calls[key] += 1
            self.statuses[status] += 1

    def record_fault(self, kind: str) -> None:
        """Count one injected fault."""
        with self._lock:
            self.faults[kind] += 1

    def total(self, method: str | None = None) -> int:
        """Calls in all, or of one HTTP method."""
        with self._lock:
            if method is None:
                return sum(self.calls.values())
            prefix = method.upper() + " "
            return sum(n for key, n in self.calls.items() if key.startswith(prefix))

    def writes(self) -> int:
        """Calls that may change data (POST, PUT, PATCH, DELETE)."""
        return sum(self.total(m) for m in ("POST", "PUT", "PATCH", "DELETE"))

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self.calls.clear()
            self.statuses.clear()
            self.faults.clear()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        with self._lock:
            return {
                "calls": dict(self.calls),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "faults": dict(self.faults),
                "total": sum(self.calls.values()),
            }


class ConnectionDropped(Exception):
    """Raised by the fault middleware after a "lost response": the change is applied, no answer."""


FaultResponder = Callable[[int], Response]


class SandboxControl:
    """The clock, faults and stats of one fake, plus the hooks ``/_sandbox/`` calls."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        on_reset: Callable[[], None] | None = None,
        on_seed: Callable[[dict[str, Any]], Any] | None = None,
        records_by_object: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.clock = clock or SandboxClock()
        self.faults = Faults()
        self.stats = CallStats()
        self.rng = random.Random()
        self.on_reset = on_reset
        self.on_seed = on_seed
        self.records_by_object = records_by_object

    def set_faults(self, changes: Mapping[str, Any]) -> None:
        """Change fault settings (partial update)."""
        self.faults.update(changes)
        if "seed" in changes and changes["seed"] is not None:
            self.rng.seed(int(changes["seed"]))

    def roll(self, rate: float) -> bool:
        """True with probability ``rate``."""
        return rate > 0 and self.rng.random() < rate


def control_routes(control: SandboxControl) -> list[Route]:
    """The ``/_sandbox/`` routes for one fake."""

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(asdict(control.faults))
        try:
            control.set_faults(await request.json())
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(asdict(control.faults))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            try:
                if "advance_seconds" in body:
                    control.clock.advance(float(body["advance_seconds"]))
                elif "set" in body:
                    control.clock.set(datetime.fromisoformat(body["set"]))
                else:
                    raise ValueError('send {"advance_seconds": N} or {"set": "<ISO datetime>"}')
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"now": control.clock.now().isoformat()})

    async def stats(request: Request) -> Response:
        body = control.stats.snapshot()
        body["records"] = control.records_by_object() if control.records_by_object else {}
        return JSONResponse(body)

    async def reset(request: Request) -> Response:
        if control.on_reset:
            control.on_reset()
        control.stats.reset()
        control.faults = Faults()
        return JSONResponse({"reset": True})

    async def seed(request: Request) -> Response:
        raw = await request.body()
        options = json.loads(raw) if raw else {}
        result = control.on_seed(options) if control.on_seed else None
        return JSONResponse({"seeded": True, "result": result})

    return [
        Route(f"{CONTROL_PREFIX}/faults", faults, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/seed", seed, methods=["POST"]),
    ]


class FaultMiddleware:
    """Counts calls and injects latency, 500s, 429s and lost responses on every non-control call.

    ``error_response(status)`` builds the fake's own error body for an injected 500 or 429, so each
    fake fails the way its real API does.
    """

    def __init__(self, app: ASGIApp, control: SandboxControl, error_response: FaultResponder) -> None:
        self.app = app
        self.control = control
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or CONTROL_PREFIX in scope["path"]:
            await self.app(scope, receive, send)
            return
        control, faults = self.control, self.control.faults
        status_box = [0]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
            await send(message)

        delay = faults.latency_ms + (
            control.rng.uniform(0, faults.latency_jitter_ms) if faults.latency_jitter_ms else 0
        )
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        try:
            if control.roll(faults.error_500_rate):
                control.stats.record_fault("500")
                await self.error_response(500)(scope, receive, counting_send)
            elif control.roll(faults.error_429_rate):
                control.stats.record_fault("429")
                await self.error_response(429)(scope, receive, counting_send)
            elif control.roll(faults.lost_response_rate):
                control.stats.record_fault("lost_response")
                await self._lose_response(scope, receive, send)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or scope["path"]
            control.stats.record(f"{scope['method']} {scope.get('root_path', '')}{template}", status_box[0])

    async def _lose_response(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)  # the change is applied ...
        # ... then the answer starts and the connection dies before the body arrives.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        raise ConnectionDropped("sandbox fault: response lost after the change was applied")


class SandboxTransport(httpx2.AsyncBaseTransport):
    """In-process transport to a fake's ASGI app that fails like a socket on a lost response."""

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self._inner = httpx2.ASGITransport(app=app, client=client)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send the request into the app; a dropped connection becomes RemoteProtocolError."""
        try:
            return await self._inner.handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from exc

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()
