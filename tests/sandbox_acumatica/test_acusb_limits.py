"""Licence request limits of the fake (§7): concurrency, queue, per-minute throttling, strict mode."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import httpx2

from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox, LicenceLimits
from ml_connector.sandbox.acumatica._limits import LimitsMiddleware

BASE = "/AcumaticaERP/entity/Default/24.200.001"


@contextlib.asynccontextmanager
async def _client(sb: AcumaticaSandbox) -> AsyncIterator[tuple[httpx2.AsyncClient, dict[str, str]]]:
    async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as http:
        c = sb.credentials
        form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
                "username": c.username, "password": c.password, "scope": "api"}  # fmt: skip
        token = (await http.post("/AcumaticaERP/identity/connect/token", data=form)).json()["access_token"]
        yield http, {"Authorization": f"Bearer {token}"}


async def test_fifty_at_once_with_sixteen_cores_gives_twenty_queued_and_fourteen_declined():
    sb = AcumaticaSandbox(max_concurrent=16, queue_limit=20)
    sb.seed()
    sb.control.set_faults({"latency_ms": 400})  # all 50 arrive before the first ends
    async with _client(sb) as (http, auth):  # the token call counts too
        responses = await asyncio.gather(
            *(http.get(f"{BASE}/StockItem/LUM2X4-8", headers=auth) for _ in range(50))
        )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 36, 429: 14}  # the doc's worked example
    declined = [r for r in responses if r.status_code == 429]
    assert all("retry-after" not in r.headers for r in declined)
    assert (
        declined[0].json()["message"]
        == "The number of requests has exceeded the limit imposed by the license."
    )
    assert sb.limit_stats.max_active == 16 and sb.limit_stats.max_queue == 20


async def test_request_waiting_longer_than_the_limit_is_declined():
    sb = AcumaticaSandbox(max_concurrent=1, max_queue_wait_seconds=0.05)
    sb.seed()
    sb.control.set_faults({"latency_ms": 300})
    async with _client(sb) as (http, auth):  # the token call counts too
        first, second = await asyncio.gather(
            http.get(f"{BASE}/StockItem/LUM2X4-8", headers=auth),
            http.get(f"{BASE}/StockItem/LUM2X4-8", headers=auth),
        )
    assert sorted([first.status_code, second.status_code]) == [200, 429]


async def test_sign_out_skips_the_queue():
    sb = AcumaticaSandbox(max_concurrent=1, queue_limit=0)
    sb.seed()
    sb.control.set_faults({"latency_ms": 200})
    async with _client(sb) as (http, auth):  # the token call counts too
        slow = asyncio.create_task(http.get(f"{BASE}/StockItem/LUM2X4-8", headers=auth))
        await asyncio.sleep(0.05)
        logout = await http.post("/AcumaticaERP/entity/auth/logout", headers=auth)
        assert logout.status_code == 204
        assert (await slow).status_code == 200


async def test_strict_mode_declines_beyond_half_the_per_minute_limit():
    sb = AcumaticaSandbox(requests_per_minute=10, strict_limits=True)
    sb.seed()
    async with _client(sb) as (http, auth):  # the token call counts too
        statuses = [
            (await http.get(f"{BASE}/StockItem/LUM2X4-8", headers=auth)).status_code for _ in range(6)
        ]
    assert statuses == [200, 200, 200, 200, 429, 429]  # 1 token call + 4 reads reach 50 %


async def test_throttling_delay_follows_the_documented_formula():
    """Limit 50/min, 25 processed, window opened 40 s ago -> 20 s / 25 = 0.8 s (§7)."""
    now = [1000.0]

    async def app(scope, receive, send):  # pragma: no cover - not reached
        raise AssertionError

    middleware = LimitsMiddleware(
        app, LicenceLimits(requests_per_minute=50), lambda: None, lambda p: False, now=lambda: now[0]
    )  # type: ignore[arg-type,return-value]
    for _ in range(25):
        middleware._window.append(960.0)
    assert await middleware._per_minute()
    assert middleware.stats.delay_seconds == [0.8]
    assert middleware.stats.delayed == 1
    # below 50 % there is no delay
    fresh = LimitsMiddleware(
        app, LicenceLimits(requests_per_minute=50), lambda: None, lambda p: False, now=lambda: now[0]
    )  # type: ignore[arg-type,return-value]
    for _ in range(24):
        fresh._window.append(960.0)
    assert await fresh._per_minute()
    assert fresh.stats.delayed == 0
