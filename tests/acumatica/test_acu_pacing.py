"""Pacing against the licence's per-minute figure (§7): the whole figure by default, 50 % once a 429 shows a strict tenant."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ml_connector.acumatica import AcumaticaClient
from ml_connector.acumatica._client import STRICT_PACE_FRACTION
from ml_connector.sandbox.acumatica import AcumaticaSandbox


async def test_default_pacing_uses_the_whole_figure_and_a_delaying_tenant_declines_nothing(
    build_client: Callable[..., AcumaticaClient],
) -> None:
    # 20 per 1 s window; the sandbox delays beyond 10 (the documented behaviour) and declines nothing.
    sb = AcumaticaSandbox(requests_per_minute=20, limit_window_seconds=1.0, max_concurrent=8, seat_limit=2)
    sb.seed()
    async with build_client(sb, requests_per_minute=20, pace_window_seconds=1.05, max_concurrent=8) as client:
        assert client.pace_fraction == 1.0
        results = await asyncio.gather(*(client.get("StockItem", "LUM2X4-8") for _ in range(36)))
    assert len(results) == 36
    assert sb.limit_stats.declined == 0
    assert sb.limit_stats.delayed > 0  # the client went past 50 %, where the server starts delaying
    assert client.pace_fraction == 1.0


async def test_a_429_from_a_strict_tenant_drops_pacing_to_half_for_the_clients_lifetime(
    build_client: Callable[..., AcumaticaClient],
) -> None:
    sb = AcumaticaSandbox(requests_per_minute=8, strict_limits=True, limit_window_seconds=0.3, seat_limit=2)
    sb.seed()
    options: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.4, "retry_attempts": 30}
    async with build_client(sb, requests_per_minute=8, pace_window_seconds=0.6, **options) as client:
        results = await asyncio.gather(*(client.get("StockItem", "LUM2X4-8") for _ in range(10)))
        assert len(results) == 10
        assert sb.limit_stats.declined > 0  # full-rate pacing met the strict tenant's 50 % rule
        assert client.pace_fraction == STRICT_PACE_FRACTION
        declined = sb.limit_stats.declined
        await asyncio.sleep(0.7)  # both windows empty
        again = await asyncio.gather(*(client.get("StockItem", "LUM2X4-8") for _ in range(8)))
    assert len(again) == 8
    assert sb.limit_stats.declined == declined  # paced at half from then on: nothing more declined
