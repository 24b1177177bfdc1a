"""Running flows: the cursor loop, parked retries, runs and their tallies.

Cursor rules (DESIGN.md, prior-art.md §F.2):
- compound ``(SystemModstamp, Id)`` order; each read starts ``overlap_minutes`` before the cursor and
  the re-read records are absorbed by content hashes (no write when nothing changed);
- a page's outcomes and the cursor that covers them are written in one transaction, so the cursor
  never moves past a record whose outcome is not durable;
- the cursor only ever takes values *read from records*, i.e. stamped by the server before the read
  started: it is never past the read's start on the server's clock (a local clock could be skewed);
- ``queryAll`` so deletes are seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ml_connector.errors import AuthError, ConnectorError, QuotaExhausted
from ml_connector.logging import get_logger
from ml_connector.store import CursorPosition, Link, LinkStatus, RecordOutcome
from ml_connector.sync._accounts import AccountsFlow
from ml_connector.sync._common import salesforce_time
from ml_connector.sync._contacts import ContactsFlow
from ml_connector.sync._context import SyncContext
from ml_connector.sync._credit import CreditFlow
from ml_connector.sync._orders import OrdersFlow

__all__ = ["FLOW_NAMES", "FlowResult", "Flows", "RecordFlow", "run_flows"]

FLOW_NAMES = ("accounts", "contacts", "orders", "credit")
log = get_logger(__name__)


class RecordFlow(Protocol):
    """A Salesforce-sourced flow: reads records of ``sobject`` and syncs them page by page."""

    name: str
    sobject: str

    def fields(self, ctx: SyncContext) -> tuple[str, ...]: ...

    async def sync_records(self, ctx: SyncContext, records: Sequence[Any]) -> list[RecordOutcome]: ...


@dataclass
class FlowResult:
    """How one flow's run went."""

    flow: str
    status: str  # ok | failed | skipped
    counts: dict[str, int]
    error: str | None = None
    exception: ConnectorError | None = field(default=None, repr=False, compare=False)


@dataclass
class Flows:
    """The four flows, wired to each other's dependencies."""

    accounts: AccountsFlow = field(default_factory=AccountsFlow)
    contacts: ContactsFlow = field(init=False)
    orders: OrdersFlow = field(init=False)
    credit: CreditFlow = field(default_factory=CreditFlow)

    def __post_init__(self) -> None:
        self.contacts = ContactsFlow(self.accounts)
        self.orders = OrdersFlow(self.accounts)

    def record_flow(self, name: str) -> RecordFlow:
        """The Salesforce-sourced flow called ``name``."""
        flows: dict[str, RecordFlow] = {
            "accounts": self.accounts,
            "contacts": self.contacts,
            "orders": self.orders,
        }
        return flows[name]

    # -- Salesforce-sourced flows -------------------------------------------------------------------
    def stream(self, flow: RecordFlow) -> str:
        """The cursor name of a flow's source."""
        return f"salesforce:{flow.sobject}"

    def _query_shape(self, ctx: SyncContext, flow: RecordFlow) -> dict[str, Any]:
        shape: dict[str, Any] = {"include_deleted": getattr(flow, "include_deleted", True)}
        if hasattr(flow, "where"):
            shape["where"] = flow.where(ctx)
        if hasattr(flow, "children"):
            shape["children"] = flow.children(ctx)
        return shape

    async def run_record_flow(
        self, ctx: SyncContext, flow: RecordFlow, *, full: bool = False, since: datetime | None = None
    ) -> None:
        """Parked retries, then every changed record since the cursor (minus the overlap)."""
        await self.retry_parked(ctx, flow)
        stream = self.stream(flow)
        start = since
        if start is None and not full:
            cursor = ctx.store.get_cursor(ctx.connection_id, stream)
            moment = salesforce_time(cursor.ts) if cursor else None
            if moment is not None:
                start = moment - timedelta(minutes=ctx.config.flows.overlap_minutes)
        done = 0
        async for page in ctx.salesforce.changed_pages(
            flow.sobject, flow.fields(ctx), start, **self._query_shape(ctx, flow)
        ):
            last = page[-1]
            ctx.tally(flow.name).counts["read"] += len(page)
            todo = self._still_to_do(ctx, flow, page)
            outcomes = await flow.sync_records(ctx, todo) if todo else []
            _stamp_versions(outcomes, todo)
            ctx.handled.setdefault(flow.name, set()).update(r["Id"] for r in todo)
            ctx.record(
                outcomes, cursor=(stream, CursorPosition(str(last["SystemModstamp"]), str(last["Id"])))
            )
            done += len(page)
            ctx.note_progress(flow.name, done, None)

    def _still_to_do(self, ctx: SyncContext, flow: RecordFlow, page: Sequence[Any]) -> list[Any]:
        """Leave out records this run already handled, and parked records whose source has not
        changed since they were parked (retry_parked decides when those go again)."""
        handled = ctx.handled.get(flow.name, set())
        links = ctx.store.get_links(ctx.connection_id, flow.name, [r["Id"] for r in page])
        todo = []
        for record in page:
            link = links.get(record["Id"])
            if record["Id"] in handled:
                continue
            if (
                link is not None
                and link.status is LinkStatus.PARKED
                and link.source_version == str(record.get("SystemModstamp"))
            ):
                ctx.tally(flow.name).counts["waiting"] += 1
                continue
            todo.append(record)
        return todo

    async def sync_ids(self, ctx: SyncContext, flow: RecordFlow, ids: Iterable[str]) -> list[RecordOutcome]:
        """Sync particular records now (CDC triggers, parked retries); the cursor is not moved."""
        shape = self._query_shape(ctx, flow)
        shape.pop("where", None)  # re-read whatever they are now; the flow decides
        records = await ctx.salesforce.by_ids(flow.sobject, flow.fields(ctx), list(ids), **shape)
        if hasattr(flow, "where"):
            records = [r for r in records if r.get("StatusCode") == "Activated"]
        if not records:
            return []
        outcomes = await flow.sync_records(ctx, records)
        _stamp_versions(outcomes, records)
        ctx.handled.setdefault(flow.name, set()).update(r["Id"] for r in records)
        ctx.tally(flow.name).counts["read"] += len(records)
        ctx.record(outcomes)
        return outcomes

    async def retry_parked(self, ctx: SyncContext, flow: RecordFlow) -> None:
        """Retry in-doubt records, and parked ones whose cause may be gone.

        A record parked with a known blocker (a missing or unsellable stock item, a customer on
        hold, an account without a customer) is retried as soon as the blocker is gone, and not
        before: no wasted write. Other parked records are retried until ``max_attempts``; after that
        they wait for their source record to change (the cursor brings them back).
        """
        parked = ctx.store.links_by_status(ctx.connection_id, LinkStatus.PARKED, flow.name)
        doubtful = ctx.store.links_by_status(ctx.connection_id, LinkStatus.IN_DOUBT, flow.name)
        cap = ctx.config.flows.max_attempts
        blocked = [link for link in parked if link.data.get("blocked_on")]
        due = [link.source_id for link in parked if not link.data.get("blocked_on") and link.attempts < cap]
        due += await blockers_cleared(ctx, blocked)
        due += [link.source_id for link in doubtful]
        if due:
            outcomes = await self.sync_ids(ctx, flow, due)
            ctx.tally(flow.name).counts["retried"] += len(outcomes)


async def blockers_cleared(ctx: SyncContext, links: Sequence[Link]) -> list[str]:
    """Source ids of parked records whose every blocker is gone (checked in a few batched reads)."""
    blocked = {link.source_id: dict(link.data.get("blocked_on") or {}) for link in links}
    wanted_items = sorted({item for b in blocked.values() for item in b.get("items", [])})
    wanted_customers = sorted({b["customer"] for b in blocked.values() if b.get("customer")})
    wanted_accounts = sorted({b["account"] for b in blocked.values() if b.get("account")})
    items = await ctx.acumatica.stock_items(wanted_items) if wanted_items else {}
    customers = await ctx.acumatica.customers(wanted_customers) if wanted_customers else {}
    accounts = ctx.store.get_links(ctx.connection_id, "accounts", wanted_accounts)
    sellable = {key for key, item in items.items() if item.get("ItemStatus") not in ("No Sales", "Inactive")}
    open_customers = {
        key for key, c in customers.items() if c.get("Status") not in ("Credit Hold", "Inactive", "On Hold")
    }
    ready_accounts = {
        key for key, link in accounts.items() if link.status is LinkStatus.SYNCED and link.target_key
    }
    return [
        source_id
        for source_id, b in blocked.items()
        if all(item in sellable for item in b.get("items", []))
        and (not b.get("customer") or b["customer"] in open_customers)
        and (not b.get("account") or b["account"] in ready_accounts)
    ]


def _stamp_versions(outcomes: Sequence[RecordOutcome], records: Sequence[Any]) -> None:
    """Every outcome carries the source version it was made from (parked ones too)."""
    versions = {r["Id"]: str(r.get("SystemModstamp") or "") for r in records}
    for outcome in outcomes:
        if outcome.source_version is None and outcome.source_id in versions:
            outcome.source_version = versions[outcome.source_id]


def _calls_since(ctx: SyncContext, before: dict[str, int]) -> dict[str, int]:
    """API calls per system since ``before``; the Salesforce daily usage as last reported."""
    calls = {system: counter.total - before.get(system, 0) for system, counter in ctx.calls.items()}
    usage = ctx.salesforce.client.api_usage if ctx.calls else None
    if usage is not None:
        calls["salesforce daily used"] = usage[0]
    return calls


async def run_flows(
    ctx: SyncContext,
    names: Sequence[str] = FLOW_NAMES,
    *,
    full: bool = False,
    since: datetime | None = None,
    flows: Flows | None = None,
) -> list[FlowResult]:
    """Run the named flows in dependency order; a failing flow does not stop the ones after it,
    except for authentication and quota errors, which stop the whole sync."""
    flows = flows or Flows()
    results: list[FlowResult] = []
    stop: ConnectorError | None = None
    for name in (n for n in FLOW_NAMES if n in names):
        if stop is not None:
            results.append(FlowResult(name, "skipped", {}, f"not run: {stop.message}"))
            continue
        if not getattr(ctx.config.flows, name).enabled:
            results.append(FlowResult(name, "skipped", {}, "disabled in the config"))
            continue
        calls_before = {system: counter.total for system, counter in ctx.calls.items()}
        run_id = None if ctx.dry_run else ctx.store.start_run(ctx.connection_id, name, ctx.trigger)
        if run_id is not None:
            ctx.run_ids[name] = run_id
        try:
            if name == "credit":
                await flows.credit.run(ctx, full=full, since=since)
            else:
                await flows.run_record_flow(ctx, flows.record_flow(name), full=full, since=since)
        except ConnectorError as exc:
            log.warning("flow.failed", flow=name, error=str(exc))
            counts = ctx.tally(name).as_dict()
            results.append(FlowResult(name, "failed", counts, str(exc), exc))
            if run_id is not None:
                ctx.store.finish_run(run_id, status="failed", counts=counts, error=str(exc),
                                     api_calls=_calls_since(ctx, calls_before))  # fmt: skip
            if isinstance(exc, AuthError | QuotaExhausted):
                stop = exc
            continue
        counts = ctx.tally(name).as_dict()
        results.append(FlowResult(name, "ok", counts))
        if run_id is not None:
            ctx.store.finish_run(
                run_id, status="ok", counts=counts, api_calls=_calls_since(ctx, calls_before)
            )
    return results
