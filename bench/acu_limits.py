"""Acumatica licence limits: how the client fares against the sandbox's §7 request limits.

Run: ``.venv/bin/python bench/acu_limits.py`` (about 20 s), or with ``--real-minute`` for a full-scale
per-minute run (about 2 minutes).

1. Concurrency: 100 reads started at once through ``AcumaticaClient`` against a sandbox that
   processes 4 requests at a time, queues 20 and takes ``--latency-ms`` (100) per request. Target: no
   429 reaches the caller and the batch takes <= 110 % of 100 x latency / 4. The in-process client +
   sandbox cost about 1-1.5 ms of CPU per call, so at 40 ms latency the ratio is ~1.13-1.17, at 100 ms ~1.05.
2. Per-minute limit: reads through a client told the licence figure, against the sandbox in normal
   (delaying) and strict (429 beyond 50 %) mode. Target: nothing declined, no server-side delay, and
   never more than the limit in any window.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from pydantic import SecretStr

from ml_connector.acumatica import AcumaticaClient
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox


def client_for(sb: AcumaticaSandbox, **options: Any) -> AcumaticaClient:
    c = sb.credentials
    return AcumaticaClient(
        instance_url=sb.instance_url,
        tenant="Company",
        client_id=c.client_id,
        client_secret=SecretStr(c.client_secret),
        username=c.username,
        password=SecretStr(c.password),
        transport=SandboxTransport(sb.app),
        **options,
    )


async def concurrency(latency_ms: float, calls: int) -> bool:
    sb = AcumaticaSandbox(max_concurrent=4, queue_limit=20)
    sb.seed()
    sb.control.set_faults({"latency_ms": latency_ms})
    async with client_for(sb) as client:
        await client.get("StockItem", "LUM2X4-8")  # sign-in and endpoint check, outside the timing
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.get("StockItem", "LUM2X4-8") for _ in range(calls)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    ideal = calls * latency_ms / 1000 / 4
    ratio = elapsed / ideal
    ok = not failures and sb.limit_stats.declined == 0 and ratio <= 1.10
    print(f"[concurrency] {calls} calls, sandbox 4 at a time, queue 20, latency {latency_ms:.0f} ms")
    print(f"  elapsed {elapsed:.3f} s, ideal {ideal:.3f} s, ratio {ratio:.3f} (target <= 1.10)")
    print(f"  declined by sandbox: {sb.limit_stats.declined}, errors to caller: {len(failures)}, "
          f"max processed at once: {sb.limit_stats.max_active}, max queued: {sb.limit_stats.max_queue}")  # fmt: skip
    print(f"  -> {'PASS' if ok else 'FAIL'}")
    return ok


async def per_minute(rpm: int, window: float, calls: int, strict: bool) -> bool:
    sb = AcumaticaSandbox(requests_per_minute=rpm, strict_limits=strict, limit_window_seconds=window)
    sb.seed()
    stamps: list[float] = []
    inner = sb.app  # wrapped to note when each request arrives

    async def timed(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "/_sandbox" not in scope["path"]:
            stamps.append(time.perf_counter())
        await inner(scope, receive, send)

    sb.app = timed
    started = time.perf_counter()
    async with client_for(sb, requests_per_minute=rpm, pace_window_seconds=window * 61 / 60) as client:
        results = await asyncio.gather(
            *(client.get("StockItem", "LUM2X4-8") for _ in range(calls)), return_exceptions=True
        )
    elapsed = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    busiest = max(sum(1 for t in stamps if s <= t < s + window) for s in stamps)
    stats = sb.limit_stats
    ok = not failures and stats.declined == 0 and stats.delayed == 0 and busiest <= rpm
    mode = "strict (429 beyond 50 %)" if strict else "normal (delay beyond 50 %)"
    print(
        f"[per-minute] limit {rpm} per {window:g} s window, {mode}, {calls} reads (+ sign-in, endpoint check)"
    )
    print(
        f"  elapsed {elapsed:.2f} s; busiest window held {busiest} requests (limit {rpm}, client paces at {rpm // 2})"
    )
    print(
        f"  processed {stats.processed}, delayed by sandbox {stats.delayed}, declined {stats.declined}, errors {len(failures)}"
    )
    print(f"  -> {'PASS' if ok else 'FAIL'}")
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--real-minute", action="store_true", help="per-minute run with a real 60 s window")
    args = parser.parse_args()
    ok = await concurrency(args.latency_ms, args.calls)
    if args.real_minute:
        rpm, window, calls = 60, 60.0, 45
    else:
        rpm, window, calls = 20, 4.0, 22
    for strict in (False, True):
        ok = await per_minute(rpm, window, calls, strict) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
