"""credit flow: Acumatica customer status, credit limit and AR balance → Salesforce Account fields.

A balance moves when invoices and payments are released, and Acumatica does not touch the
customer's ``LastModifiedDateTime`` when that happens (reference acumatica-api.md §6.1, the trap the
sandbox reproduces). So the flow reads three streams: customers, sales invoices and payments changed
since their cursors; every customer named by any of them gets its balance summed from its open AR
documents in batched list calls (reference §6.1 option 2: open invoices less credit memos, less
unapplied payments — two calls per 40 customers instead of one ``$custom=CustomerBalance.Balance``
GET each), and only values that changed are upserted onto the Account by the external-id field,
200 per call, with ``Acumatica_Synced_At__c`` stamped.
Only customers that carry a Salesforce Account Id in ``AccountRef`` are synced: a customer that never
came from Salesforce has no Account to update, and an upsert would try to create one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ml_connector.store import CursorPosition, EventKind, LinkStatus, RecordOutcome
from ml_connector.sync._common import diff, jsonable
from ml_connector.sync._context import PlannedWrite, SyncContext
from ml_connector.sync._mapping import content_hash, credit_to_account

__all__ = ["CreditFlow"]

FLOW = "credit"
STREAMS = {
    "Customer": "acumatica:Customer",
    "SalesInvoice": "acumatica:SalesInvoice",
    "Payment": "acumatica:Payment",
}


class CreditFlow:
    """Acumatica Customer (+ AR documents) → Salesforce Account credit fields."""

    name = FLOW

    async def run(self, ctx: SyncContext, *, full: bool = False, since: datetime | None = None) -> None:
        """One pass over the three streams; cursors advance only after the outcomes are recorded."""
        starts = {
            entity: None if full else self._since(ctx, stream, since) for entity, stream in STREAMS.items()
        }
        customers: dict[str, dict[str, Any]] = {}
        highest: dict[str, CursorPosition] = {}
        async for record in self._customers(ctx, starts["Customer"]):
            customers[str(record["CustomerID"])] = record
            _note(highest, "Customer", record)
        named: set[str] = set()
        for entity in ("SalesInvoice", "Payment"):
            start = starts[entity]
            if start is None and full:
                continue  # a full pass reads every customer anyway
            async for document in ctx.acumatica.documents_modified_since(entity, start or _EPOCH):
                if document.get("CustomerID"):
                    named.add(str(document["CustomerID"]))
                _note(highest, entity, document)
        missing = sorted(named - set(customers))
        if missing:
            customers.update(await ctx.acumatica.customers(missing))
        linked = {cid: c for cid, c in customers.items() if c.get("AccountRef")}
        ctx.tally(FLOW).counts["read"] += len(customers)
        outcomes = await self.sync_customers(ctx, linked)
        ctx.record(
            outcomes, cursor=(STREAMS["Customer"], highest["Customer"]) if "Customer" in highest else None
        )
        for entity in ("SalesInvoice", "Payment"):
            if entity in highest and not ctx.dry_run:
                ctx.store.advance_cursor(ctx.connection_id, STREAMS[entity], highest[entity])

    def _since(self, ctx: SyncContext, stream: str, since: datetime | None) -> datetime | None:
        if since is not None:
            return since
        cursor = ctx.store.get_cursor(ctx.connection_id, stream)
        return datetime.fromisoformat(cursor.ts) if cursor else None

    async def _customers(self, ctx: SyncContext, since: datetime | None) -> AsyncIterator[dict[str, Any]]:
        if since is None:
            async for record in ctx.acumatica.client.list("Customer"):
                yield record
        else:
            async for record in ctx.acumatica.customers_modified_since(since):
                yield record

    async def sync_customers(
        self, ctx: SyncContext, customers: Mapping[str, Mapping[str, Any]]
    ) -> list[RecordOutcome]:
        """Bring these customers' credit fields to their Accounts; outcomes are not yet recorded."""
        mapping = ctx.config.mapping
        links = ctx.store.get_links(ctx.connection_id, FLOW, list(customers))
        balances = await ctx.acumatica.customer_balances(list(customers)) if customers else {}
        outcomes: list[RecordOutcome] = []
        upserts: list[dict[str, Any]] = []
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        for customer_id, customer in customers.items():
            values = credit_to_account(customer, balances[customer_id], mapping)
            digest = content_hash(values)
            link = links.get(customer_id)
            if link and link.content_hash == digest and link.status is LinkStatus.SYNCED:
                outcomes.append(
                    RecordOutcome(FLOW, customer_id, LinkStatus.SYNCED, EventKind.UNCHANGED, audit=False)
                )
                continue
            previous = dict(link.data.get("sent") or {}) if link else {}
            record = {
                mapping.account_customer_id_field: customer_id,
                **values,
                mapping.account_synced_at_field: stamp,
            }
            upserts.append(record)
            if ctx.dry_run:
                ctx.plan.append(
                    PlannedWrite(
                        FLOW,
                        customer_id,
                        "salesforce",
                        "update",
                        str(customer.get("AccountRef")),
                        diff(previous, values),
                    )
                )
            outcomes.append(
                RecordOutcome(FLOW, customer_id, LinkStatus.SYNCED, EventKind.UPDATED,
                              target_key=str(customer.get("AccountRef")), content_hash=digest,
                              fields=list(diff(previous, values)), data={"sent": jsonable(values)})
            )  # fmt: skip
        if upserts and not ctx.dry_run:
            errors = await ctx.salesforce.upsert("Account", mapping.account_customer_id_field, upserts)
            for outcome in outcomes:
                if outcome.source_id in errors:
                    outcome.status, outcome.event = LinkStatus.PARKED, EventKind.PARKED
                    outcome.message = f"Salesforce refused the credit fields: {errors[outcome.source_id]}"
                    outcome.hint = (
                        f"check that the Account {outcome.target_key} exists and carries "
                        f"{mapping.account_customer_id_field} = {outcome.source_id}"
                    )
                    outcome.content_hash = None
                    outcome.count_attempt = True
        return outcomes


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _note(highest: dict[str, CursorPosition], entity: str, record: Mapping[str, Any]) -> None:
    """Keep the largest last-modified value read from records (the server's own clock)."""
    value = record.get("LastModifiedDateTime")
    if not isinstance(value, datetime):
        return
    key = str(record.get("id") or "")
    position = CursorPosition(value.astimezone(UTC).isoformat(), key)
    current = highest.get(entity)
    if current is None or datetime.fromisoformat(current.ts) < value:
        highest[entity] = position
