"""What the commands do, as library calls: sync, status, audit, parked records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ml_connector.admin import Workspace
from ml_connector.errors import ConfigError
from ml_connector.store import EventKind, Link, LinkStatus, RecordOutcome
from ml_connector.sync._connect import Transports, open_sync
from ml_connector.sync._context import PlannedWrite, ProgressCallback
from ml_connector.sync._runner import FLOW_NAMES, FlowResult, Flows, run_flows

__all__ = [
    "FlowStatus",
    "SyncReport",
    "flow_status",
    "parked_records",
    "retry_parked",
    "run_sync",
    "skip_parked",
]


@dataclass
class SyncReport:
    """The outcome of one ``sync``: per-flow results, API calls per system, the dry-run plan."""

    results: list[FlowResult]
    calls: dict[str, dict[str, int]]
    plan: list[PlannedWrite] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no flow failed."""
        return all(result.status != "failed" for result in self.results)


def _check_flows(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in FLOW_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown flow(s): {', '.join(unknown)}", hint=f"choose from {', '.join(FLOW_NAMES)}"
        )
    return list(names) or list(FLOW_NAMES)


async def run_sync(
    ws: Workspace,
    flows: Sequence[str] = (),
    *,
    full: bool = False,
    since: datetime | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    transports: Transports | None = None,
) -> SyncReport:
    """Run the named flows (all by default) once."""
    names = _check_flows(flows)
    async with open_sync(ws, transports, dry_run=dry_run) as ctx:
        ctx.progress = progress
        results = await run_flows(ctx, names, full=full, since=since)
        calls = {system: dict(counter.by_method) for system, counter in ctx.calls.items()}
        return SyncReport(results, calls, list(ctx.plan))


@dataclass(frozen=True)
class FlowStatus:
    """One flow as ``status`` shows it."""

    flow: str
    last_run: dict[str, Any] | None
    lag_seconds: float | None
    cursors: dict[str, str]
    parked: int
    in_doubt: int
    synced: int


def flow_status(ws: Workspace) -> list[FlowStatus]:
    """Per flow: last run, lag since it finished, cursor positions, parked and in-doubt counts."""
    runs = ws.store.last_runs(ws.connection_id)
    counts = ws.store.count_links(ws.connection_id)
    streams = {
        "accounts": ["salesforce:Account"],
        "contacts": ["salesforce:Contact"],
        "orders": ["salesforce:Order"],
        "credit": ["acumatica:Customer", "acumatica:SalesInvoice", "acumatica:Payment"],
    }
    now = datetime.now(UTC)
    out = []
    for name in FLOW_NAMES:
        run = runs.get(name)
        finished = run.get("finished_at") if run else None
        cursors = {}
        for stream in streams[name]:
            position = ws.store.get_cursor(ws.connection_id, stream)
            if position:
                cursors[stream] = position.ts
        out.append(
            FlowStatus(
                flow=name,
                last_run=run,
                lag_seconds=(now - finished).total_seconds() if finished else None,
                cursors=cursors,
                parked=counts.get((name, LinkStatus.PARKED.value), 0),
                in_doubt=counts.get((name, LinkStatus.IN_DOUBT.value), 0),
                synced=counts.get((name, LinkStatus.SYNCED.value), 0),
            )
        )
    return out


def parked_records(ws: Workspace, flow: str | None = None) -> list[Link]:
    """Parked records (oldest first)."""
    if flow:
        _check_flows([flow])
    return ws.store.links_by_status(ws.connection_id, LinkStatus.PARKED, flow)


def skip_parked(ws: Workspace, source_ids: Sequence[str], *, reason: str = "skipped by an operator") -> int:
    """Mark parked records as skipped: they are no longer retried (until their source changes)."""
    links = {link.source_id: link for link in parked_records(ws)}
    missing = [s for s in source_ids if s not in links]
    if missing:
        raise ConfigError(f"not parked: {', '.join(missing)}", hint="see `ml-connector parked list`")
    outcomes = [
        RecordOutcome(links[s].flow, s, LinkStatus.SKIPPED, EventKind.SKIPPED, message=reason)
        for s in source_ids
    ]
    for outcome in outcomes:
        ws.store.record_outcome(ws.connection_id, outcome)
    return len(outcomes)


async def retry_parked(
    ws: Workspace, source_ids: Sequence[str] = (), *, transports: Transports | None = None
) -> list[RecordOutcome]:
    """Retry parked records now (all, or the named ones), whatever their attempts or blockers."""
    parked = parked_records(ws)
    wanted = set(source_ids) or {link.source_id for link in parked}
    missing = wanted - {link.source_id for link in parked}
    if missing:
        raise ConfigError(f"not parked: {', '.join(sorted(missing))}", hint="see `ml-connector parked list`")
    flows = Flows()
    outcomes: list[RecordOutcome] = []
    async with open_sync(ws, transports, trigger="retry") as ctx:
        for name in ("accounts", "contacts", "orders"):
            ids = [link.source_id for link in parked if link.flow == name and link.source_id in wanted]
            if ids:
                outcomes += await flows.sync_ids(ctx, flows.record_flow(name), ids)
        credit_ids = [link.source_id for link in parked if link.flow == "credit" and link.source_id in wanted]
        if credit_ids:
            customers = await ctx.acumatica.customers(credit_ids)
            credit = await flows.credit.sync_customers(
                ctx, {k: v for k, v in customers.items() if v.get("AccountRef")}
            )
            ctx.record(credit)
            outcomes += credit
    return outcomes
