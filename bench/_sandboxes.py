"""Serve a seeded Salesforce + Acumatica sandbox pair on loopback, in its own process.

The benchmark runner starts this module so that the connector's RSS and CPU time are measured
without the fakes. It prints one JSON line (URLs, credentials, the config it wrote), then answers
commands read from its standard input, one per line, each with one JSON line:

* ``stats``: both fakes' call statistics, the licence monitor (processed, delayed, declined) and
  when each Acumatica request was answered (seconds on this machine's monotonic clock);
* ``reset``: forget those statistics (the data stays);
* ``invoiced <OrderNumber>``: whether Acumatica holds a sales invoice for that order yet;
* ``quit`` or end of input: stop serving.

    python -m bench._sandboxes --dir DIR --accounts 20 --rpm 1200 --max-concurrent 8 ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from ml_connector.sandbox._serve import SandboxPair, SeedSize, serve_pair, write_config
from ml_connector.sandbox.acumatica import AcumaticaSandbox
from ml_connector.sandbox.acumatica._limits import LimitStats


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the runner for the values each scenario uses)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", type=Path, required=True, help="where ml-connector.toml is written")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--accounts", type=int, default=20)
    p.add_argument("--contacts-per-account", type=int, default=2)
    p.add_argument("--orders", type=int, default=30)
    p.add_argument("--activated-ratio", type=float, default=0.6)
    p.add_argument("--rpm", type=int, default=None, help="licence requests per window")
    p.add_argument("--window", type=float, default=60.0, help="licence window in seconds")
    p.add_argument("--max-concurrent", type=int, default=None)
    p.add_argument("--sf-latency-ms", type=float, default=0.0)
    p.add_argument("--acu-latency-ms", type=float, default=0.0)
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Seed, serve, announce, and wait for the runner to close our stdin."""
    pair = SandboxPair.create(
        SeedSize(
            seed=args.seed,
            accounts=args.accounts,
            contacts_per_account=args.contacts_per_account,
            orders=args.orders,
            activated_ratio=args.activated_ratio,
        ),
        requests_per_minute=args.rpm,
        max_concurrent=args.max_concurrent,
        limit_window_seconds=args.window,
        seat_limit=None,
    )
    answered = _note_answers(pair.acumatica)
    pair.pubsub.keepalive_seconds = 0.5  # a LATEST stream's first answer comes quickly (real: ≤ 270 s)
    async with serve_pair(pair):
        args.dir.mkdir(parents=True, exist_ok=True)
        config = write_config(pair, args.dir)
        pair.salesforce.control.set_faults({"latency_ms": args.sf_latency_ms})
        pair.acumatica.control.set_faults({"latency_ms": args.acu_latency_ms})
        info = {**pair.description(), "config": str(config)}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command in ("", "quit"):
                return
            reply = answer(pair, command, answered)
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


def _note_answers(acumatica: AcumaticaSandbox) -> list[float]:
    """Wrap the fake so the time each API request is answered is noted (the licence counts those)."""
    answered: list[float] = []
    inner = acumatica.app

    async def noting(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "/_sandbox" in scope["path"] or scope["path"].endswith("/auth/logout"):
            await inner(scope, receive, send)
            return

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(time.monotonic())
            await send(message)

        await inner(scope, receive, send_noting)

    acumatica.app = noting
    return answered


def answer(pair: SandboxPair, command: str, answered: list[float]) -> dict[str, Any]:
    """The reply to one runner command."""
    if command == "reset":
        answered.clear()
        pair.salesforce.control.stats.reset()
        pair.acumatica.control.stats.reset()
        pair.acumatica._limiter.stats = LimitStats()
        return {"reset": True}
    if command.startswith("invoiced "):
        number = command.split(" ", 1)[1]
        found = any(i.get("CustomerOrder") == number for i in pair.acumatica.records("SalesInvoice"))
        return {"invoiced": found}
    if command == "stats":
        limits = pair.acumatica.limit_stats
        return {
            "salesforce": pair.salesforce.control.stats.snapshot(),
            "acumatica": pair.acumatica.control.stats.snapshot(),
            "licence": {
                "processed": limits.processed,
                "delayed": limits.delayed,
                "declined": limits.declined,
                "max_active": limits.max_active,
                "max_queue": limits.max_queue,
                "delay_seconds_total": round(sum(limits.delay_seconds), 3),
            },
            "answered_at": [round(t, 4) for t in answered],
        }
    return {"error": f"unknown command {command!r}"}


if __name__ == "__main__":
    asyncio.run(serve(parse()))
