"""The benchmark runner: the connector against the licence ceiling and against the naive script.

    .venv/bin/python -m bench.run --quick     # under 2 minutes, scenarios scaled down
    .venv/bin/python -m bench.run --full      # the issue's scales (several minutes)

Each scenario serves a seeded sandbox pair in its own process (``bench._sandboxes``) and runs the
connector in another (``bench._connector``), so peak RSS and CPU time are the connector's alone.
Figures go to ``bench/results/latest.json``; the table printed at the end names each target and
whether it was met.

Scenarios:

* **backfill**: accounts, contacts and activated orders from nothing, Salesforce 40 ms and
  Acumatica 120 ms latency, licence 1,200 requests a minute and 8 at once (``--quick`` compresses
  the licence minute to 10 s at the same rate, so the ceiling binds within a short run);
* **baseline**: ``bench._baseline`` against a second, identical pair (same seed, latency, limits);
* **steady**: each flow once more with nothing changed, on the backfilled pair: writes and calls;
* **scale**: accounts only at zero latency and no licence limits: records per second, peak RSS at
  two sizes (flat memory: the connector holds one page of 2,000 records at a time). The issue asks
  for 100,000; the Acumatica fake answers a ``$filter`` list and a PUT by scanning every stored
  record, so each of the connector's batched lookups costs seconds at 10,000 customers and the
  run grows quadratically. ``--scale-accounts`` sets the larger size when the fake is indexed;
* **realtime**: see ``bench._realtime`` (activation → invoice through ``ml-connector run``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
FLOWS = ("accounts", "contacts", "orders", "credit")
WRITE_COUNTS = ("created", "updated", "deleted")


@dataclass(frozen=True)
class Scale:
    """The sizes and limits of one mode."""

    accounts: int
    contacts_per_account: int
    orders: int
    window: float  # licence window in seconds (60 = the real minute)
    rpm: int  # requests per window
    scale_accounts: int
    sf_latency_ms: float = 40.0
    acu_latency_ms: float = 120.0
    max_concurrent: int = 8


QUICK = Scale(accounts=24, contacts_per_account=2, orders=40, window=4.0, rpm=80, scale_accounts=1_000)
FULL = Scale(accounts=600, contacts_per_account=2, orders=800, window=60.0, rpm=1200, scale_accounts=5_000)


class Sandboxes:
    """A ``bench._sandboxes`` process: its description and its stdin command channel."""

    def __init__(self, directory: Path, scale: Scale, *, accounts: int, contacts_per_account: int,
                 orders: int, limits: bool, latency: bool) -> None:  # fmt: skip
        command = [
            sys.executable, "-m", "bench._sandboxes", "--dir", str(directory),
            "--accounts", str(accounts), "--contacts-per-account", str(contacts_per_account),
            "--orders", str(orders),
        ]  # fmt: skip
        if limits:
            command += ["--rpm", str(scale.rpm), "--window", str(scale.window),
                        "--max-concurrent", str(scale.max_concurrent)]  # fmt: skip
        if latency:
            command += [
                "--sf-latency-ms",
                str(scale.sf_latency_ms),
                "--acu-latency-ms",
                str(scale.acu_latency_ms),
            ]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process exited before it served")
        self.info: dict[str, Any] = json.loads(line)
        self.config = Path(self.info["config"])

    def ask(self, command: str) -> dict[str, Any]:
        """Send one command, read its JSON answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def close(self) -> None:
        """End the process (closing stdin makes it stop serving)."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextmanager
def sandboxes(directory: Path, scale: Scale, **options: Any) -> Iterator[Sandboxes]:
    """A served pair for the block."""
    pair = Sandboxes(directory, scale, **options)
    try:
        yield pair
    finally:
        pair.close()


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError(f"no JSON result in the output:\n{text[-2000:]}")


def run_module(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module args`` and return the JSON line it printed last."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return _last_json(done.stdout)


def connector(pair: Sandboxes, scale: Scale | None, *flows: str) -> dict[str, Any]:
    """One connector sync in its own process; limits passed when ``scale`` is given."""
    args = ["--config", str(pair.config), "--flows", ",".join(flows)]
    if scale is not None:
        args += ["--rpm", str(scale.rpm), "--window", str(scale.window),
                 "--max-concurrent", str(scale.max_concurrent)]  # fmt: skip
    return run_module("bench._connector", *args)


def _total(calls: dict[str, int]) -> int:
    return sum(calls.values())


def _writes(flows: dict[str, Any]) -> dict[str, int]:
    return {name: sum(flow["counts"].get(k, 0) for k in WRITE_COUNTS) for name, flow in flows.items()}


def backfill_and_baseline(work: Path, scale: Scale) -> dict[str, Any]:
    """Backfill with the connector, the same seed with the naive script, then the steady state."""
    seed = {"accounts": scale.accounts, "contacts_per_account": scale.contacts_per_account,
            "orders": scale.orders, "limits": True, "latency": True}  # fmt: skip
    with sandboxes(work / "connector", scale, **seed) as pair:
        pair.ask("reset")
        run = connector(pair, scale)
        stats = pair.ask("stats")
        written = _writes(run["flows"])
        acu_written = written["accounts"] + written["contacts"] + written["orders"]
        records_written = sum(written.values())
        acu_calls = _total(run["calls"]["acumatica"])
        sf_calls = _total(run["calls"]["salesforce"])
        ceiling_per_second = scale.rpm / scale.window
        rate = stats["licence"]["processed"] / run["wall_seconds"]
        pace = licence_use(stats["answered_at"], scale.window, scale.rpm)
        declined = stats["licence"]["declined"] + int(stats["acumatica"]["statuses"].get("429", 0))
        refused = sum(
            n for code, n in stats["acumatica"]["statuses"].items() if code in ("400", "422", "500")
        )
        backfill = {
            "wall_seconds": run["wall_seconds"],
            "cpu_seconds": run["cpu_seconds"],
            "peak_rss_mb": run["peak_rss_mb"],
            "counts": {name: flow["counts"] for name, flow in run["flows"].items()},
            "records_written": records_written,
            "acumatica_records_written": acu_written,
            "calls": run["calls"],
            "acumatica_rate_per_minute": round(rate * 60, 1),
            "licence_ceiling_per_minute": round(ceiling_per_second * 60, 1),
            "licence_fraction_whole_run": round(rate / ceiling_per_second, 3),
            **pace,
            "acumatica_requests_processed": stats["licence"]["processed"],
            "server_delayed": stats["licence"]["delayed"],
            "server_delay_seconds": stats["licence"]["delay_seconds_total"],
            "declined_429": declined,
            "acumatica_refused": refused,
            "salesforce_calls_per_1000_written": round(sf_calls * 1000 / max(records_written, 1), 2),
            "acumatica_calls_per_record_written": round(acu_calls / max(acu_written, 1), 3),
        }
        steady: dict[str, Any] = {}
        for flow in FLOWS:
            pair.ask("reset")
            again = connector(pair, scale, flow)
            after = pair.ask("stats")
            steady[flow] = {
                "writes": sum(_writes(again["flows"]).values()),
                "calls": {system: _total(calls) for system, calls in again["calls"].items()},
                "sandbox_data_writes": _data_writes(after),
            }
    with sandboxes(work / "baseline", scale, **seed) as pair:
        pair.ask("reset")
        naive = run_module("bench._baseline", "--sandboxes", json.dumps(pair.info))
        naive_stats = pair.ask("stats")
    naive["declined_429"] = naive_stats["licence"]["declined"] + int(
        naive_stats["acumatica"]["statuses"].get("429", 0)
    )
    return {"backfill": backfill, "steady": steady, "baseline": naive,
            "ratios": _ratios(backfill, naive)}  # fmt: skip


def licence_use(answered: list[float], window: float, rpm: int) -> dict[str, Any]:
    """How close the Acumatica requests came to the licence ceiling.

    ``licence_fraction``: the rate once the first window has passed (the server throttles from then
    on; the first window's free burst would flatter a short run) ÷ the ceiling. ``busiest_window``:
    most requests answered in any window ÷ the per-window figure.
    """
    stamps = sorted(answered)
    if len(stamps) < 2:
        return {"licence_fraction": 0.0, "busiest_window_fraction": 0.0}
    busiest, low = 0, 0
    for high, stamp in enumerate(stamps):
        while stamp - stamps[low] >= window:
            low += 1
        busiest = max(busiest, high - low + 1)
    start, end = stamps[0] + window, stamps[-1]
    after = [t for t in stamps if t > start]
    sustained = len(after) / (end - start) if end - start > window / 4 else None
    ceiling = rpm / window
    return {
        "licence_fraction": round(sustained / ceiling, 3) if sustained is not None else None,
        "sustained_per_minute": round(sustained * 60, 1) if sustained is not None else None,
        "busiest_window_fraction": round(busiest / rpm, 3),
        "acumatica_span_seconds": round(stamps[-1] - stamps[0], 2),
    }


AUTH_PATHS = ("/services/oauth2/token", "/identity/connect/", "/entity/auth/")


def _data_writes(stats: dict[str, Any]) -> int:
    total = 0
    for system in ("salesforce", "acumatica"):
        for key, count in stats[system]["calls"].items():
            method, _, path = key.partition(" ")
            if method in ("POST", "PUT", "PATCH", "DELETE") and not any(p in path for p in AUTH_PATHS):
                total += count
    return total


def _ratios(backfill: dict[str, Any], naive: dict[str, Any]) -> dict[str, float]:
    ours = {s: _total(c) for s, c in backfill["calls"].items()}
    theirs = {s: _total(c) for s, c in naive["calls"].items()}
    return {
        "speedup": round(naive["wall_seconds"] / backfill["wall_seconds"], 2),
        "salesforce_calls_baseline_per_connector": round(
            theirs["salesforce"] / max(ours["salesforce"], 1), 2
        ),
        "acumatica_calls_baseline_per_connector": round(theirs["acumatica"] / max(ours["acumatica"], 1), 2),
    }


def scale_run(work: Path, scale: Scale, accounts: int) -> dict[str, Any]:
    """Accounts only, zero latency, no licence limits: throughput and peak RSS."""
    seed = {"accounts": accounts, "contacts_per_account": 0, "orders": 0, "limits": False, "latency": False}
    with sandboxes(work / f"scale-{accounts}", scale, **seed) as pair:
        run = connector(pair, None, "accounts")
    created = run["flows"]["accounts"]["counts"].get("created", 0)
    return {
        "accounts": accounts,
        "created": created,
        "wall_seconds": run["wall_seconds"],
        "records_per_second": round(created / run["wall_seconds"], 1),
        "peak_rss_mb": run["peak_rss_mb"],
        "cpu_seconds": run["cpu_seconds"],
        "calls": run["calls"],
    }


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) rows; ``None`` when not measured."""
    rows: list[tuple[str, str, bool | None]] = []
    b = results.get("backfill")
    if b:
        fraction = b["licence_fraction"]
        rows.append((
            ">= 95 % of the licence ceiling, 0 declined",
            ("run too short to tell" if fraction is None else
             f"{fraction * 100:.1f} % after the first window ({b['sustained_per_minute']:.0f}/min of "
             f"{b['licence_ceiling_per_minute']:.0f}); busiest window {b['busiest_window_fraction'] * 100:.0f} %; "
             f"whole run {b['licence_fraction_whole_run'] * 100:.0f} %; {b['declined_429']} declined"),
            None if fraction is None else fraction >= 0.95 and b["declined_429"] == 0,
        ))  # fmt: skip
        rows.append((
            "<= 6 Salesforce calls per 1,000 records written",
            f"{b['salesforce_calls_per_1000_written']:.1f} ({_total(b['calls']['salesforce'])} calls, "
            f"{b['records_written']} written)",
            b["salesforce_calls_per_1000_written"] <= 6,
        ))  # fmt: skip
        rows.append((
            "<= 1.05 Acumatica calls per record written",
            f"{b['acumatica_calls_per_record_written']:.3f} ({_total(b['calls']['acumatica'])} calls, "
            f"{b['acumatica_records_written']} written, {b.get('acumatica_refused', 0)} writes refused)",
            b["acumatica_calls_per_record_written"] <= 1.05,
        ))  # fmt: skip
    steady = results.get("steady")
    if steady:
        writes = sum(f["sandbox_data_writes"] for f in steady.values())
        calls = ", ".join(f"{n} {sum(f['calls'].values())}" for n, f in steady.items())
        rows.append(("steady state: 0 writes", f"{writes} writes; calls per flow: {calls}", writes == 0))
    r = results.get("ratios")
    if r:
        rows.append((">= 5x faster than the baseline", f"{r['speedup']:.2f}x", r["speedup"] >= 5))
    rt = results.get("realtime")
    if rt and rt.get("p95_seconds") is not None:
        over = rt["p95_seconds"] - rt["sandbox_latency_seconds"]
        rows.append((
            "CDC p95 <= 1 s above sandbox latency",
            f"p50 {rt['p50_seconds']:.2f} s, p95 {rt['p95_seconds']:.2f} s ({over:+.2f} s over latency)",
            over <= 1.0,
        ))  # fmt: skip
    else:
        rows.append(("CDC p95 <= 1 s above sandbox latency", (rt or {}).get("note", "not measured"), None))
    s = results.get("scale")
    if s:
        big = s[-1]
        flat = ", ".join(f"{x['accounts']:,}: {x['peak_rss_mb']:.0f} MB" for x in s)
        rows.append((
            f"peak RSS <= 200 MB at {big['accounts']:,} accounts",
            f"{big['peak_rss_mb']:.0f} MB ({flat}); {big['records_per_second']:.0f} records/s",
            big["peak_rss_mb"] <= 200,
        ))  # fmt: skip
    return rows


def figures(results: dict[str, Any]) -> str:
    """The other figures, one line each."""
    lines = []
    b, n, r = results.get("backfill"), results.get("baseline"), results.get("ratios")
    if b:
        counts = ", ".join(
            f"{name} {sum(c.get(k, 0) for k in WRITE_COUNTS)}" for name, c in b["counts"].items()
        )
        parked = sum(c.get("parked", 0) for c in b["counts"].values())
        lines.append(f"backfill: {b['wall_seconds']:.1f} s wall, {b['cpu_seconds']:.1f} s CPU, peak RSS "
                     f"{b['peak_rss_mb']:.0f} MB; written: {counts}; parked {parked}")  # fmt: skip
        lines.append(f"  calls: Salesforce {b['calls']['salesforce']}, Acumatica {b['calls']['acumatica']}; "
                     f"refused by Acumatica {b.get('acumatica_refused', 0)}; server delays "
                     f"{b['server_delayed']} ({b['server_delay_seconds']:.1f} s); 429s {b['declined_429']}")  # fmt: skip
    if n and r:
        lines.append(f"baseline: {n['wall_seconds']:.1f} s wall; calls: Salesforce {n['calls']['salesforce']}, "
                     f"Acumatica {n['calls']['acumatica']}; 429s {n['declined_429']}")  # fmt: skip
        lines.append(f"  baseline ÷ connector: wall {r['speedup']:.2f}x, Salesforce calls "
                     f"{r['salesforce_calls_baseline_per_connector']:.1f}x, Acumatica calls "
                     f"{r['acumatica_calls_baseline_per_connector']:.2f}x")  # fmt: skip
    return "\n".join(lines)


def table(rows: list[tuple[str, str, bool | None]]) -> str:
    """The printed table."""
    width = max(len(r[0]) for r in rows)
    lines = [f"{'target'.ljust(width)}  met   measured", "-" * (width + 60)]
    for name, measured, met in rows:
        mark = "n/a " if met is None else ("yes " if met else "NO  ")
        lines.append(f"{name.ljust(width)}  {mark}  {measured}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "system": platform.platform()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mode; write the JSON; print the table. Exit 0 even when a target is missed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="scaled down, under 2 minutes (default)")
    mode.add_argument("--full", action="store_true", help="the issue's scales")
    parser.add_argument("--skip", default="", help="comma-separated: backfill,scale,realtime")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--scale-accounts", type=int, default=None, help="the larger scale size")
    args = parser.parse_args(argv)
    scale = FULL if args.full else QUICK
    if args.scale_accounts:
        scale = replace(scale, scale_accounts=args.scale_accounts)
    skip = {s for s in args.skip.split(",") if s}
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "full" if args.full else "quick",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "scale": None,
        "settings": scale.__dict__,
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *(argv or sys.argv[1:])]),
    }
    with tempfile.TemporaryDirectory(prefix="ml-bench-") as tmp:
        work = Path(tmp)
        if "backfill" not in skip:
            print(f"backfill + baseline + steady state ({scale.accounts} accounts) …", flush=True)
            results.update(backfill_and_baseline(work, scale))
        if "realtime" not in skip:
            from bench import _realtime

            print("real time (activation → invoice with `ml-connector run`) …", flush=True)
            results["realtime"] = _realtime.measure(work / "realtime", scale, quick=not args.full)
        if "scale" not in skip:
            sizes = [scale.scale_accounts // 10, scale.scale_accounts]
            results["scale"] = []
            for size in sizes:
                print(f"scale: {size:,} accounts at zero latency …", flush=True)
                results["scale"].append(scale_run(work, scale, size))
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    rows = targets(results)
    results["targets"] = [{"target": n, "measured": m, "met": ok} for n, m, ok in rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(f"ml-connector benchmarks ({results['mode']}), {results['machine']['cpus']} CPUs "
          f"{results['machine']['cpu']}, {results['bench_seconds']} s")  # fmt: skip
    print(table(rows))
    print()
    print(figures(results))
    print(f"\nfigures: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
