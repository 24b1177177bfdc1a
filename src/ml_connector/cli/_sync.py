"""Commands a user runs day to day: sync, ping, status, audit, parked."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ml_connector import sync as sync_lib
from ml_connector.cli._base import AppContext, console, pass_app
from ml_connector.errors import ConfigError
from ml_connector.ping import Check, run_ping

__all__ = ["audit", "parked", "ping", "print_report", "status", "sync"]


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {value!r} is not a date or time", hint="use ISO 8601, e.g. 2026-11-01T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_report(report: sync_lib.SyncReport, *, dry_run: bool = False) -> None:
    """The summary table (and the dry-run plan)."""
    table = Table(
        "flow",
        "status",
        "read",
        "created",
        "updated",
        "unchanged",
        "parked",
        "waiting",
        "failed",
        title="sync summary",
    )
    for result in report.results:
        c = result.counts
        table.add_row(
            result.flow,
            {"ok": "✔ ok", "failed": "✖ failed", "skipped": "– skipped"}[result.status],
            *(
                str(c.get(k, 0))
                for k in ("read", "created", "updated", "unchanged", "parked", "waiting", "failed")
            ),
        )
    console.print(table)
    for result in report.results:
        if result.error:
            console.print(f"  {result.flow}: {result.error}")
    calls = ", ".join(
        f"{system} {sum(methods.values())} ({', '.join(f'{m} {n}' for m, n in sorted(methods.items()))})"
        for system, methods in report.calls.items()
    )
    console.print(f"API calls: {calls}")
    if dry_run:
        console.print(f"[bold]Dry run[/bold]: {len(report.plan)} write(s) would be made, none were:")
        for write in report.plan:
            console.print(
                f"  {write.action} {write.system} {write.target or '(new)'} ← {write.flow} {write.source_id}"
            )
            for path, (before, after) in list(write.diff.items())[:12]:
                console.print(f"      {path}: {before!r} → {after!r}")


@click.command()
@click.argument("flows", nargs=-1)
@click.option("--full", is_flag=True, help="Ignore the cursors and read everything (deleted records too).")
@click.option("--since", help="Read changes since this time (ISO 8601) instead of the cursor.")
@click.option("--dry-run", is_flag=True, help="Show the writes with field diffs; make none.")
@pass_app
def sync(app: AppContext, flows: tuple[str, ...], full: bool, since: str | None, dry_run: bool) -> None:
    """Run the flows once (all, or the FLOWS named: accounts contacts orders credit)."""
    ws = app.workspace()
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:  # fmt: skip
            tasks: dict[str, Any] = {}

            def on_progress(flow: str, done: int, total: int | None) -> None:
                if flow not in tasks:
                    tasks[flow] = progress.add_task(flow, total=total)
                progress.update(tasks[flow], completed=done, description=f"{flow}: {done} records")

            report = asyncio.run(
                sync_lib.run_sync(
                    ws, flows, full=full, since=_parse_time(since), dry_run=dry_run, progress=on_progress
                )
            )
    finally:
        ws.close()
    print_report(report, dry_run=dry_run)
    if not report.ok:
        sys.exit(1)


def print_checks(checks: list[Check]) -> int:
    """Print ✔/✖ lines; returns the number of failed checks."""
    failed = 0
    for check in checks:
        mark = {True: "[green]✔[/green]", False: "[red]✖[/red]", None: "[yellow]–[/yellow]"}[check.ok]
        console.print(f"{mark} {check.system:<10} {check.name:<24} {check.detail}")
        if check.fix and check.ok is not True:
            console.print(f"    fix: {check.fix}")
        failed += check.ok is False
    console.print(f"{failed} check(s) failed" if failed else "all checks passed")
    return failed


@click.command()
@pass_app
def ping(app: AppContext) -> None:
    """Check both systems against what the flows need; exit code = number of failed checks."""
    ws = app.workspace()
    try:
        checks = asyncio.run(run_ping(ws))
    finally:
        ws.close()
    sys.exit(print_checks(checks))


@click.command()
@pass_app
def status(app: AppContext) -> None:
    """Per flow: last run, lag, cursor, parked records."""
    from ml_connector.daemon import read_run_status

    ws = app.workspace()
    try:
        rows = sync_lib.flow_status(ws)
        daemon = read_run_status(ws)
    finally:
        ws.close()
    _print_daemon(daemon)
    for row in rows:
        run = row.last_run or {}
        started = run.get("started_at")
        lag = f"{row.lag_seconds / 60:.0f} min ago" if row.lag_seconds is not None else "never finished"
        console.print(
            f"[bold]{row.flow:<9}[/bold] last run "
            + (f"{started.isoformat(timespec='seconds')} {run.get('status')} ({lag})" if started else "never")
            + f"; synced {row.synced}, parked {row.parked}, in doubt {row.in_doubt}"
        )
        for stream, position in row.cursors.items():
            console.print(f"          cursor {stream} at {position}")
        if run.get("api_calls"):
            console.print("          API calls " + ", ".join(f"{k} {v}" for k, v in run["api_calls"].items()))


def _print_daemon(status: dict[str, Any] | None) -> None:
    if status is None:
        console.print(
            "run: not started here (no status file) — `ml-connector run` streams changes in real time"
        )
        return
    updated = datetime.fromisoformat(status["updated_at"])
    age = (datetime.now(UTC) - updated).total_seconds()
    cdc = status.get("cdc") or {}
    if age > 60 or status.get("stopping"):
        console.print(f"run: not running (last seen {status['updated_at']})")
        return
    if cdc.get("connected"):
        console.print(f"run: pid {status['pid']}; CDC connected since {cdc.get('connected_since')}, "
                      f"last event {cdc.get('last_event_at') or '–'}; {status.get('events', 0)} events, "
                      f"{status.get('dropped_echo', 0)} own echoes dropped")  # fmt: skip
    else:
        console.print(
            f"run: pid {status['pid']}; CDC [red]not connected[/red] ({cdc.get('last_error') or 'connecting'})"
        )


def _render_events(events: list[dict[str, Any]], fmt: str) -> None:
    columns = ("at", "flow", "source_id", "target_key", "kind", "fields", "message")
    if fmt == "json":
        click.echo(json.dumps([{k: _plain(e.get(k)) for k in columns} for e in events], indent=1))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for event in events:
            writer.writerow([_plain(event.get(k)) for k in columns])
        click.echo(buffer.getvalue(), nl=False)
        return
    table = Table(*columns)
    for event in events:
        table.add_row(*(str(_plain(event.get(k)) or "") for k in columns))
    console.print(table)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, list):
        return ",".join(map(str, value))
    return value


@click.command()
@click.argument("record", required=False)
@click.option("--flow", help="Only this flow.")
@click.option("--since", help="Only events at or after this time (ISO 8601).")
@click.option("--status", "kind", help="Only events of this kind (created, updated, parked, …).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@pass_app
def audit(
    app: AppContext, record: str | None, flow: str | None, since: str | None, kind: str | None, fmt: str
) -> None:
    """The audit trail: one RECORD's history (Salesforce id or Acumatica key), or filtered events."""
    ws = app.workspace()
    try:
        if record:
            events = ws.store.history(ws.connection_id, record)
            links = ws.store.find_links(ws.connection_id, record)
            if not events and not links:
                raise ConfigError(
                    f"no record {record!r} in the ledger", hint="use a Salesforce id or an Acumatica key"
                )
            if fmt == "table":
                for link in links:
                    console.print(f"{link.flow} {link.source_id} → {link.target_key or '–'}: {link.status.value}"
                                  + (f" — {link.last_error}" if link.last_error else ""))  # fmt: skip
        else:
            events = ws.store.audit_events(ws.connection_id, flow=flow, since=_parse_time(since), kind=kind)
    finally:
        ws.close()
    _render_events(events, fmt)


@click.group()
def parked() -> None:
    """Records a system refused: list them, retry them now, or skip them."""


@parked.command("list")
@click.option("--flow", help="Only this flow.")
@pass_app
def parked_list(app: AppContext, flow: str | None) -> None:
    """Every parked record with its reason and the fix."""
    ws = app.workspace()
    try:
        links = sync_lib.parked_records(ws, flow)
    finally:
        ws.close()
    if not links:
        console.print("no parked records")
        return
    for link in links:
        console.print(
            f"[bold]{link.flow}[/bold] {link.source_id} (attempts {link.attempts}): {link.last_error}"
        )
        if link.hint:
            console.print(f"    fix: {link.hint}")


@parked.command("retry")
@click.argument("records", nargs=-1)
@pass_app
def parked_retry(app: AppContext, records: tuple[str, ...]) -> None:
    """Retry parked RECORDS now (all when none are named)."""
    ws = app.workspace()
    try:
        outcomes = asyncio.run(sync_lib.retry_parked(ws, records))
    finally:
        ws.close()
    for outcome in outcomes:
        console.print(f"{outcome.flow} {outcome.source_id}: {outcome.status.value}"
                      + (f" — {outcome.message}" if outcome.message else ""))  # fmt: skip
    if not outcomes:
        console.print("nothing to retry")


@parked.command("skip")
@click.argument("records", nargs=-1, required=True)
@click.option("--reason", default="skipped by an operator", show_default=True)
@pass_app
def parked_skip(app: AppContext, records: tuple[str, ...], reason: str) -> None:
    """Stop retrying parked RECORDS (they come back if their source changes)."""
    ws = app.workspace()
    try:
        count = sync_lib.skip_parked(ws, records, reason=reason)
    finally:
        ws.close()
    console.print(f"✔ skipped {count} record(s)")
