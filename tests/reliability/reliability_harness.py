"""Chaos harness: sandboxes in their own process, the connector as a real process killed at random.

The run (``run_chaos``):

1. ``sandbox_host.py`` serves a seeded pair on loopback and writes the connector's config;
2. faults go on through ``POST /_sandbox/faults`` on both fakes (500s, 429s, lost-after-commit
   responses, latency jitter, tokens that die after 60 s of sandbox time) while a ticker moves the
   shared sandbox clock forward, so tokens really expire mid-run;
3. ``python -m ml_connector --config … sync`` runs again and again, killed with SIGKILL at a random
   moment, until ``kills`` kills have happened; then one more run under faults is left to finish;
4. faults off, "finance" releases and part-pays some invoices in Acumatica, and one convergence run
   must finish cleanly;
5. the invariants (``reliability_invariants``) are read from the fakes' own stores and the ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
from reliability_invariants import Findings, check_invariants

HERE = Path(__file__).resolve().parent
CHAOS_FAULTS: dict[str, Any] = {
    "error_500_rate": 0.10,
    "error_429_rate": 0.05,
    "lost_response_rate": 0.02,
    "token_expiry_seconds": 60,
    "latency_ms": 1,
    "latency_jitter_ms": 15,
}
NO_FAULTS: dict[str, Any] = {
    "error_500_rate": 0.0,
    "error_429_rate": 0.0,
    "lost_response_rate": 0.0,
    "token_expiry_seconds": None,
    "latency_ms": 0,
    "latency_jitter_ms": 0,
}


@dataclass(frozen=True)
class ChaosSize:
    """How big a chaos run is and how rough."""

    accounts: int
    contacts_per_account: int
    orders: int  # all orders seeded; about ``activated_ratio`` of them are activated
    activated_ratio: float = 0.85
    kills: int = 5
    seed: int = 7
    kill_window: tuple[float, float] = (1.5, 6.0)  # seconds after start a kill may land
    clock_tick_seconds: float = 30.0  # sandbox seconds added every wall second during the chaos


CI_SIZE = ChaosSize(accounts=40, contacts_per_account=3, orders=118, kills=5, kill_window=(1.5, 8.0))
# Kills land up to 90 s in: early runs die among accounts and contacts, later ones (cursors moved on)
# among the orders, so invoices are made, lost and recovered under faults before the convergence run.
FULL_SIZE = ChaosSize(accounts=500, contacts_per_account=3, orders=2353, kills=8, kill_window=(10.0, 90.0))


@dataclass
class ChaosReport:
    """What a chaos run did and found."""

    size: ChaosSize
    runs: int = 0
    kills: int = 0
    completed_runs: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    made_under_faults: dict[str, int] = field(default_factory=dict)  # counterparts existing when faults stop
    token_expiries: int = 0  # calls answered 401 (a token the sandbox let die), each followed by a sign-in
    calls: dict[str, int] = field(default_factory=dict)
    faulted_run_exit: int | None = None  # the run under faults that was left to finish
    faulted_run_output: str = ""
    convergence_exit: int | None = None
    convergence_output: str = ""
    findings: Findings | None = None
    seconds: float = 0.0

    def figures(self) -> dict[str, Any]:
        """The figures a run prints."""
        found = self.findings
        return {
            "accounts": found.accounts if found else 0,
            "contacts": found.contacts if found else 0,
            "activated_orders": found.activated_orders if found else 0,
            "connector_runs": self.runs,
            "made_before_convergence": self.made_under_faults,
            "kills": self.kills,
            "faults_injected": self.faults,
            "token_expiries": self.token_expiries,
            "http_retries": sum(self.faults.values()) + self.token_expiries,
            "api_calls": self.calls,
            "ledger_retries": found.ledger_retries if found else 0,
            "in_doubt_recovered": found.recovered if found else 0,
            "parked_known_unhappy": found.parked_orders if found else 0,
            "duplicates": found.duplicates if found else 0,
            "records_lost": found.lost if found else 0,
            "problems": len(found.problems) if found else 0,
            "faulted_run_exit": self.faulted_run_exit,
            "convergence_exit": self.convergence_exit,
            "seconds": round(self.seconds, 1),
        }


class SandboxHost:
    """The ``sandbox_host.py`` process and its control surface."""

    def __init__(self, folder: Path, size: ChaosSize) -> None:
        self.folder = folder
        args = [
            sys.executable, str(HERE / "sandbox_host.py"), "--dir", str(folder), "--seed", str(size.seed),
            "--accounts", str(size.accounts), "--contacts-per-account", str(size.contacts_per_account),
            "--orders", str(size.orders), "--activated-ratio", str(size.activated_ratio),
        ]  # fmt: skip
        # uvicorn logs every lost response as an ASGI exception: keep that out of the test output.
        self.log = (folder / "sandbox-host.log").open("w")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox host did not start")
        self.info: dict[str, Any] = json.loads(line)
        self.config = Path(self.info["config"])
        # The Acumatica fake serves /_sandbox/ at its root, not under the instance path that
        # ``description()["acumatica"]["control"]`` names (that URL answers 404).
        acumatica_root = urlsplit(self.info["acumatica"]["url"])._replace(path="").geturl()
        self.controls = [self.info["salesforce"]["control"], f"{acumatica_root}/_sandbox/"]

    def command(self, **body: Any) -> dict[str, Any]:
        """Send one command to the host and read its answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(body) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def set_faults(self, faults: dict[str, Any]) -> None:
        for index, control in enumerate(self.controls):
            seed = {"seed": faults.get("seed", 0) + index} if "seed" in faults else {}
            httpx2.post(control + "faults", json={**faults, **seed}).raise_for_status()

    def advance_clock(self, seconds: float) -> None:
        # Both fakes share one clock: moving it through one moves it for both.
        httpx2.post(self.controls[0] + "clock", json={"advance_seconds": seconds}).raise_for_status()

    def stats(self) -> list[dict[str, Any]]:
        return [httpx2.get(control + "stats").json() for control in self.controls]

    def records(self) -> dict[str, Any]:
        path = self.folder / "records.json"
        self.command(cmd="dump", path=str(path))
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command(cmd="quit")
                self.proc.wait(timeout=20)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@contextmanager
def sandbox_host(folder: Path, size: ChaosSize) -> Iterator[SandboxHost]:
    """A running host, stopped on the way out."""
    host = SandboxHost(folder, size)
    try:
        yield host
    finally:
        host.close()


@contextmanager
def clock_ticker(host: SandboxHost, sandbox_seconds_per_second: float) -> Iterator[None]:
    """Move the sandbox clock forward in the background (tokens expire in sandbox time)."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            with contextlib.suppress(httpx2.HTTPError):  # the host may be going away
                host.advance_clock(sandbox_seconds_per_second)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def connector_env() -> dict[str, str]:
    """The environment of a connector process: the key file, not a key from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_CONNECTOR_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_connector(config: Path, *, kill_after: float | None, timeout: float = 900) -> tuple[bool, int, str]:
    """Run ``ml-connector sync``; SIGKILL it after ``kill_after`` s. Returns (killed, exit code, output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_connector", "--config", str(config), "sync"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=connector_env(),
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=kill_after if kill_after is not None else timeout)
        return False, proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        return True, proc.returncode, out


def counterparts(records: dict[str, Any]) -> dict[str, int]:
    """How many customers, contacts and invoices the connector has made so far."""
    acu = records["acumatica"]
    return {
        "customers": sum(1 for c in acu["Customer"] if c.get("AccountRef")),
        "contacts": sum(1 for c in acu["Contact"] if c.get("ExtRefNbr")),
        "invoices": len(acu["SalesInvoice"]),
    }


def _sum_faults(stats: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in stats:
        for kind, count in one["faults"].items():
            total[kind] = total.get(kind, 0) + count
    return total


def run_chaos(folder: Path, size: ChaosSize, *, log: Any = None) -> ChaosReport:
    """One whole chaos run; see the module docstring."""
    say = log or (lambda *_: None)
    started = time.monotonic()
    report = ChaosReport(size)
    rng = random.Random(size.seed)
    with sandbox_host(folder, size) as host:
        host.set_faults({**CHAOS_FAULTS, "seed": size.seed})
        with clock_ticker(host, size.clock_tick_seconds):
            # Kills first; then, however fast or slow the machine, one run under faults that is left to
            # finish, so every flow (orders included) has done its work through the faults.
            while (report.kills < size.kills or report.completed_runs < 1) and report.runs < size.kills * 4:
                kill_after = rng.uniform(*size.kill_window) if report.kills < size.kills else None
                killed, code, out = run_connector(host.config, kill_after=kill_after)
                report.runs += 1
                report.kills += killed
                report.completed_runs += not killed
                if not killed:
                    report.faulted_run_exit, report.faulted_run_output = code, out
                what = f"killed after {kill_after:.1f} s" if killed and kill_after else f"exit {code}"
                say(f"run {report.runs}: {what}")
        stats = host.stats()
        report.faults = _sum_faults(stats)
        report.token_expiries = sum(int(one["statuses"].get("401", 0)) for one in stats)
        report.calls = {"salesforce": stats[0]["total"], "acumatica": stats[1]["total"]}
        host.set_faults(NO_FAULTS)
        report.made_under_faults = counterparts(host.records())
        # People in Acumatica release and part-pay invoices: balances must reach Salesforce.
        host.command(cmd="finance", release=max(3, size.orders // 10), pay=max(2, size.orders // 20))
        _, code, out = run_connector(host.config, kill_after=None)
        report.runs += 1
        report.convergence_exit, report.convergence_output = code, out
        say(f"convergence run: exit {code}")
        report.findings = check_invariants(host.records(), host.config)
    report.seconds = time.monotonic() - started
    return report
