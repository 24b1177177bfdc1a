"""Run the connector's ``sync`` once, in its own process, and report its figures as one JSON line.

The runner starts this module so the connector's peak RSS and CPU time are its own (the sandboxes
live in another process). Figures: wall time, per-flow counts, API calls by system and method,
peak RSS (``ru_maxrss``) and user + system CPU seconds (``getrusage``).

    python -m bench._connector --config DIR/ml-connector.toml [--flows accounts,contacts] [--full]
        [--rpm N --window S --max-concurrent N]

``--window`` compresses the licence minute for quick runs: the sandbox is told the same window, and
the client paces over it (bench only; a real licence window is always a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from ml_connector.admin import open_workspace
from ml_connector.sync import _connect, run_sync


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _compress_window(window: float) -> None:
    """Make the client pace over ``window`` seconds, with the same 1/60 margin as its 61 s minute."""
    original = _connect.AcumaticaClient
    _connect.AcumaticaClient = partial(original, pace_window_seconds=window * 61 / 60)  # type: ignore[misc]


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """One sync; the figures as a dict."""
    if args.rpm is not None:
        os.environ["ML_CONNECTOR_ACUMATICA__REQUESTS_PER_MINUTE"] = str(args.rpm)
    if args.max_concurrent is not None:
        os.environ["ML_CONNECTOR_ACUMATICA__MAX_CONCURRENT_REQUESTS"] = str(args.max_concurrent)
    if args.window is not None and args.window != 60.0:
        _compress_window(args.window)
    ws = open_workspace(args.config)
    flows = [f for f in args.flows.split(",") if f]
    cpu0 = _cpu_seconds()
    started = time.perf_counter()
    try:
        report = await run_sync(ws, flows, full=args.full)
    finally:
        ws.close()
    wall = time.perf_counter() - started
    return {
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(_cpu_seconds() - cpu0, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "ok": report.ok,
        "flows": {
            r.flow: {"status": r.status, "counts": dict(r.counts), "error": r.error} for r in report.results
        },
        "calls": report.calls,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--flows", default="")
    p.add_argument("--full", action="store_true")
    p.add_argument("--rpm", type=int, default=None)
    p.add_argument("--window", type=float, default=None)
    p.add_argument("--max-concurrent", type=int, default=None)
    return p.parse_args(argv)


if __name__ == "__main__":
    result = asyncio.run(main(parse()))
    sys.stdout.write(json.dumps(result) + "\n")
