"""The licence's request limits (§7 of shared/reference/acumatica-api.md) as ASGI middleware.

* **Concurrent requests**: at most ``max_concurrent`` are processed at once ("API processing
  cores"); the others wait in a queue.
* **Queue**: a request is declined when the queue already holds ``queue_limit`` (20) requests, or
  when it has waited longer than ``max_wait_seconds`` (10 minutes). Declined requests are not counted
  as processed. Worked example of the doc: 50 at once with 16 cores -> 16 processed, 20 queued, 14
  declined.
* **Per minute**: once the requests processed in the past minute reach 50 % of
  ``requests_per_minute``, each new one is *delayed* by ``remaining_time_in_window /
  remaining_requests`` (the doc's example: limit 50, 25 processed, window opened 40 s ago ->
  20 s / 25 = 0.8 s). In ``strict`` mode the request is instead answered 429 at once (some tenants are
  reported to behave so; the issue asks for both).
* Declined means **429 without ``Retry-After``** (none is documented anywhere). Sign-out skips the
  queue ("processed immediately").

Wall time (not the sandbox clock) drives the queue and the window, because the delays are real.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LicenceLimits", "LimitStats", "LimitsMiddleware"]

WINDOW_SECONDS = 60.0


@dataclass
class LimitStats:
    """What the licence monitor (SM604000 Statistics tab) would show."""

    processed: int = 0
    delayed: int = 0
    declined: int = 0
    max_queue: int = 0
    max_active: int = 0
    delay_seconds: list[float] = field(default_factory=list)


@dataclass
class LicenceLimits:
    """The three request limits; ``None`` means unlimited (the trial licence has none, §7)."""

    requests_per_minute: int | None = None
    max_concurrent: int | None = None
    queue_limit: int = 20
    max_wait_seconds: float = 600.0
    strict: bool = False
    window_seconds: float = WINDOW_SECONDS  # a minute; shorter only to run benchmarks quickly


class LimitsMiddleware:
    """Admits, queues, delays or declines every API request except sign-out and ``/_sandbox/``."""

    def __init__(
        self,
        app: ASGIApp,
        limits: LicenceLimits,
        declined: Callable[[], Response],
        exempt: Callable[[str], bool],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        self.declined = declined
        self.exempt = exempt
        self.now = now
        self.stats = LimitStats()
        self._active = 0
        self._waiting = 0
        self._window: deque[float] = deque()
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def reset(self) -> None:
        """Forget statistics and the per-minute window."""
        self.stats = LimitStats()
        self._window.clear()

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._cond is None or self._loop is not loop:
            self._cond, self._loop = asyncio.Condition(), loop
            self._active = self._waiting = 0
        return self._cond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        cond = self._condition()
        limit = self.limits.max_concurrent
        async with cond:
            if limit is not None and self._active >= limit:
                if self._waiting >= self.limits.queue_limit:
                    await self._decline(scope, receive, send)
                    return
                self._waiting += 1
                self.stats.max_queue = max(self.stats.max_queue, self._waiting)
                try:
                    await asyncio.wait_for(
                        cond.wait_for(lambda: self._active < limit), timeout=self.limits.max_wait_seconds
                    )
                except TimeoutError:
                    await self._decline(scope, receive, send)
                    return
                finally:
                    self._waiting -= 1
            self._active += 1
            self.stats.max_active = max(self.stats.max_active, self._active)
        try:
            if not await self._per_minute():
                await self._decline(scope, receive, send)
                return
            await self.app(scope, receive, send)
        finally:
            async with cond:
                self._active -= 1
                cond.notify_all()

    async def _per_minute(self) -> bool:
        """Apply the per-minute rule; False means decline (strict mode)."""
        rpm = self.limits.requests_per_minute
        if rpm is None:
            self.stats.processed += 1
            return True
        now = self.now()
        window = self.limits.window_seconds
        while self._window and now - self._window[0] >= window:
            self._window.popleft()
        processed = len(self._window)
        if processed >= rpm / 2:
            if self.limits.strict:
                return False
            remaining_time = window - (now - self._window[0])
            remaining_requests = rpm - processed
            delay = remaining_time / remaining_requests if remaining_requests > 0 else remaining_time
            self.stats.delayed += 1
            self.stats.delay_seconds.append(delay)
            await asyncio.sleep(delay)
            now = self.now()
        self._window.append(now)
        self.stats.processed += 1
        return True

    async def _decline(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.stats.declined += 1
        await self.declined()(scope, receive, send)
