"""orders flow: activated Salesforce Order (+ OrderItems) → Acumatica SalesInvoice.

An invoice is never created twice. ``ReferenceNbr`` is auto-numbered, so a PUT without it always
creates (reference acumatica-api.md §4.1, §9.2). Before each create the ledger records an intent
(``in_doubt``); only a confirmed answer turns it into ``synced``. Records whose history the ledger
cannot vouch for — no link at all for an order activated before this ledger existed, or a link left
``in_doubt`` — are first looked up by ``CustomerOrder`` (= OrderNumber) and customer, in one batched
call per page. A changed order whose invoice is not released is updated line by line through the
detail row ids kept in the ledger (lines are never resent without ids: that would add them again);
a released invoice is parked: the change needs a credit memo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from ml_connector.errors import RecordError
from ml_connector.salesforce import soql
from ml_connector.store import EventKind, Link, LinkStatus, RecordOutcome
from ml_connector.sync._accounts import AccountsFlow
from ml_connector.sync._common import (
    BlockedRecord,
    changed_fields,
    create_with_intent,
    diff,
    jsonable,
    outcome_of,
    raise_on_outage,
    salesforce_time,
    write_back,
)
from ml_connector.sync._contacts import customers_for_accounts
from ml_connector.sync._context import PlannedWrite, SyncContext
from ml_connector.sync._gateways import each_concurrently
from ml_connector.sync._mapping import order_to_invoice

__all__ = ["ORDER_FIELDS", "OrdersFlow"]

FLOW = "orders"
ORDER_FIELDS = (
    "Id",
    "OrderNumber",
    "AccountId",
    "EffectiveDate",
    "Status",
    "StatusCode",
    "Description",
    "TotalAmount",
    "ActivatedDate",
    "IsDeleted",
    "CreatedDate",
    "SystemModstamp",
)
RELEASED = frozenset({"Open", "Closed", "Canceled", "Voided", "Reserved"})


class OrdersFlow:
    """Activated Salesforce Order → Acumatica SalesInvoice."""

    name = FLOW
    sobject = "Order"
    include_deleted = False  # only Draft orders can be deleted (§5.3), and drafts are never invoiced

    def __init__(self, accounts: AccountsFlow) -> None:
        self.accounts = accounts

    def fields(self, ctx: SyncContext) -> tuple[str, ...]:
        """Order fields the flow reads (write-back fields included when configured)."""
        m = ctx.config.mapping
        extra = tuple(f for f in (m.order_invoice_nbr_field, m.order_invoice_status_field) if f)
        return (*ORDER_FIELDS, *extra)

    def where(self, ctx: SyncContext) -> str:
        """Only activated orders become invoices."""
        return soql.format("StatusCode = {}", "Activated")

    def children(self, ctx: SyncContext) -> str:
        """The order's products with the item number the invoice lines need."""
        item = ctx.config.mapping.product_item_field
        # The field name is checked as an identifier by the config (MappingSettings).
        select = f"Id, Quantity, UnitPrice, Description, PricebookEntry.Product2.Name, PricebookEntry.Product2.{item}"
        return f"(SELECT {select} FROM OrderItems)"  # noqa: S608

    async def sync_records(
        self, ctx: SyncContext, orders: Sequence[Mapping[str, Any]]
    ) -> list[RecordOutcome]:
        """Invoice ``orders`` in Acumatica; returns their outcomes (not yet recorded)."""
        customers = await customers_for_accounts(ctx, self.accounts, [o.get("AccountId") for o in orders])
        links = ctx.store.get_links(ctx.connection_id, FLOW, [o["Id"] for o in orders])
        doubtful = [
            str(o.get("OrderNumber")) for o in orders if self._needs_lookup(ctx, o, links.get(o["Id"]))
        ]
        existing = await ctx.acumatica.invoices_by_customer_order(doubtful) if doubtful else {}
        outcomes: list[RecordOutcome] = []
        write_backs: list[dict[str, Any]] = []
        results = await each_concurrently(
            orders,
            lambda o: self._sync_one(ctx, o, links.get(o["Id"]), existing, customers),
            limit=ctx.acumatica.concurrency,
        )
        raise_on_outage(results)
        for order, result in zip(orders, results, strict=True):
            link = links.get(order["Id"])
            outcome = outcome_of(FLOW, order["Id"], result, link, keep_data=True)
            outcomes.append(outcome)
            back = self._write_back(ctx, order, outcome, link)
            if back:
                write_backs.append(back)
        if write_backs:
            await write_back(ctx, FLOW, "Order", write_backs, outcomes)
        return outcomes

    def _needs_lookup(self, ctx: SyncContext, order: Mapping[str, Any], link: Link | None) -> bool:
        if link is not None:
            return link.status is LinkStatus.IN_DOUBT and not link.target_key
        # No link: a lookup is needed unless the ledger proves no create was ever sent, i.e. the
        # order was activated after this ledger was born (with the overlap as a margin for skew).
        activated = salesforce_time(order.get("ActivatedDate")) or salesforce_time(order.get("CreatedDate"))
        margin = timedelta(minutes=ctx.config.flows.overlap_minutes)
        return activated is None or activated <= ctx.ledger_born + margin

    async def _sync_one(
        self,
        ctx: SyncContext,
        order: Mapping[str, Any],
        link: Link | None,
        existing: Mapping[str, list[dict[str, Any]]],
        customers: Mapping[str, str],
    ) -> RecordOutcome:
        version = str(order.get("SystemModstamp") or "")
        customer_id = customers.get(str(order.get("AccountId")))
        if customer_id is None:
            raise BlockedRecord(
                "the order's account has no Acumatica customer",
                field_errors={"AccountId": "no customer"},
                hint="fix the account (see `ml-connector parked list`); the order follows by itself",
                blocked_on={"account": str(order.get("AccountId"))},
            )
        items = sorted((order.get("OrderItems") or {}).get("records") or [], key=lambda item: str(item["Id"]))
        mapped = order_to_invoice(
            order, items, customer_id, ctx.config.mapping, with_external_ref=ctx.acumatica.has_external_refs
        )
        item_ids = [str(item["Id"]) for item in items]
        if link and link.target_key and link.status is not LinkStatus.IN_DOUBT:
            if link.content_hash == mapped.hash and link.status is LinkStatus.SYNCED:
                return RecordOutcome(
                    FLOW,
                    order["Id"],
                    LinkStatus.SYNCED,
                    EventKind.UNCHANGED,
                    source_version=version,
                    audit=False,
                )
            updated = await self._update(ctx, order, link, mapped.payload, mapped.hash, item_ids, version)
            return _note_truncation(updated, mapped.truncated)
        found = [
            inv
            for inv in existing.get(str(order.get("OrderNumber")), [])
            if inv.get("CustomerID") == customer_id
        ]
        if found:
            invoice = found[0]
            note = (
                f"invoice {invoice['ReferenceNbr']} already existed for this order; linked, not created again"
            )
            if len(found) > 1:
                note += f" ({len(found)} invoices carry this order number: check them in Acumatica)"
            lines = _line_ids(item_ids, invoice.get("Details") or [])
            return RecordOutcome(
                FLOW,
                order["Id"],
                LinkStatus.SYNCED,
                EventKind.RECOVERED,
                target_key=str(invoice["ReferenceNbr"]),
                content_hash=mapped.hash,
                source_version=version,
                message=note,
                data={
                    "type": invoice.get("Type", "Invoice"),
                    "status": invoice.get("Status"),
                    "lines": lines,
                    "sent": jsonable(mapped.payload),
                },
            )
        created = await self._create(ctx, order, mapped.payload, mapped.hash, item_ids, version, customer_id)
        return _note_truncation(created, mapped.truncated)

    async def _create(
        self,
        ctx: SyncContext,
        order: Mapping[str, Any],
        payload: dict[str, Any],
        content_hash: str,
        item_ids: list[str],
        version: str,
        customer_id: str,
    ) -> RecordOutcome:
        if ctx.dry_run:
            ctx.plan.append(PlannedWrite(FLOW, order["Id"], "acumatica", "create", None, diff({}, payload)))
            return RecordOutcome(FLOW, order["Id"], LinkStatus.SYNCED, EventKind.CREATED)
        number = str(payload["CustomerOrder"])

        async def made_it() -> dict[str, Any] | None:
            again = await ctx.acumatica.invoices_by_customer_order([number])
            match = [inv for inv in again.get(number, []) if inv.get("CustomerID") == customer_id]
            if not match:
                return None
            return await ctx.acumatica.get_invoice(
                str(match[0]["ReferenceNbr"]), str(match[0].get("Type", "Invoice"))
            )

        try:
            saved = await create_with_intent(
                ctx, FLOW, order["Id"], what=f"invoice for order {number}",
                create=lambda: ctx.acumatica.put_invoice(payload), find=made_it,
            )  # fmt: skip
        except RecordError as exc:
            raise explain_refusal(exc, payload, customer_id, ctx.config.mapping.product_item_field) from exc
        status = saved.get("Status")
        if ctx.config.mapping.release_invoices and status not in RELEASED:
            await ctx.acumatica.release_invoice(str(saved["ReferenceNbr"]), str(saved.get("Type", "Invoice")))
            status = "Open"
        return RecordOutcome(
            FLOW, order["Id"], LinkStatus.SYNCED, EventKind.CREATED, target_key=str(saved["ReferenceNbr"]),
            content_hash=content_hash, source_version=version, fields=sorted(payload),
            data={"type": saved.get("Type", "Invoice"), "status": status,
                  "lines": _line_ids(item_ids, saved.get("Details") or []), "sent": jsonable(payload)},
        )  # fmt: skip

    async def _update(
        self,
        ctx: SyncContext,
        order: Mapping[str, Any],
        link: Link,
        payload: dict[str, Any],
        content_hash: str,
        item_ids: list[str],
        version: str,
    ) -> RecordOutcome:
        doc_type = str(link.data.get("type") or "Invoice")
        reference = str(link.target_key)
        current = await ctx.acumatica.get_invoice(reference, doc_type)
        if current.get("Status") in RELEASED:
            raise RecordError(
                f"invoice {reference} is already released ({current.get('Status')}); the order changed after it",
                field_errors={"SalesInvoice": "released"},
                hint="enter a credit memo (and a new invoice) in Acumatica for the change, then `ml-connector parked skip`",
            )
        known: dict[str, str] = dict(link.data.get("lines") or {})
        details: list[dict[str, Any]] = []
        for item_id, line in zip(item_ids, payload["Details"], strict=True):
            row = dict(line)
            if item_id in known:
                row["id"] = known[item_id]
            details.append(row)
        live_ids = {str(d.get("id")) for d in current.get("Details") or []}
        details.extend({"id": row_id, "delete": True} for item_id, row_id in known.items()
                       if item_id not in item_ids and row_id in live_ids)  # fmt: skip
        update = {k: v for k, v in payload.items() if k not in ("Details",)}
        update.update({"Type": doc_type, "ReferenceNbr": reference, "Details": details})
        previous = dict(link.data.get("sent") or {})
        if ctx.dry_run:
            ctx.plan.append(
                PlannedWrite(FLOW, order["Id"], "acumatica", "update", reference, diff(previous, payload))
            )
            return RecordOutcome(
                FLOW, order["Id"], LinkStatus.SYNCED, EventKind.UPDATED, target_key=reference
            )
        saved = await ctx.acumatica.put_invoice(update)
        lines = {item_id: known[item_id] for item_id in item_ids if item_id in known}
        new_items = [item_id for item_id in item_ids if item_id not in known]
        new_rows = [
            str(d["id"]) for d in saved.get("Details") or [] if str(d.get("id")) not in set(known.values())
        ]
        lines.update(zip(new_items, new_rows, strict=False))
        return RecordOutcome(
            FLOW, order["Id"], LinkStatus.SYNCED, EventKind.UPDATED, target_key=reference,
            content_hash=content_hash, source_version=version, fields=changed_fields(previous, payload),
            data={"type": doc_type, "status": saved.get("Status"), "lines": lines, "sent": jsonable(payload)},
        )  # fmt: skip

    def _write_back(
        self, ctx: SyncContext, order: Mapping[str, Any], outcome: RecordOutcome, link: Link | None
    ) -> dict[str, Any] | None:
        m = ctx.config.mapping
        if outcome.status is not LinkStatus.SYNCED:
            return None
        number = outcome.target_key or (link.target_key if link else None)
        data = outcome.data if outcome.data is not None else (link.data if link else {})
        status = data.get("status")
        fields: dict[str, Any] = {}
        if m.order_invoice_nbr_field and number and order.get(m.order_invoice_nbr_field) != number:
            fields[m.order_invoice_nbr_field] = number
        if m.order_invoice_status_field and status and order.get(m.order_invoice_status_field) != status:
            fields[m.order_invoice_status_field] = status
        return {"Id": order["Id"], **fields} if fields else None


def _note_truncation(outcome: RecordOutcome, truncated: Sequence[str]) -> RecordOutcome:
    """Record in the ledger which texts were cut to Acumatica's lengths (as accounts and contacts do)."""
    if truncated:
        outcome.message = "; ".join(filter(None, [outcome.message, *truncated]))
    return outcome


def _line_ids(item_ids: Sequence[str], details: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """OrderItem Id → invoice detail row id; rows come back in the order they were sent."""
    return {item_id: str(row["id"]) for item_id, row in zip(item_ids, details, strict=False) if row.get("id")}


def explain_refusal(
    error: RecordError, payload: Mapping[str, Any], customer_id: str, item_field: str
) -> RecordError:
    """Turn Acumatica's refusal of an invoice into a reason a person can act on, with its blockers.

    Acumatica's messages name the field, not the value (``'Inventory ID' cannot be found in the
    system.``), so the item numbers come from the lines we sent.
    """
    items: list[str] = []
    hints: list[str] = []
    customer_blocked = False
    for path, text in error.field_errors.items():
        match = re.fullmatch(r"Details/(\d+)/InventoryID", path)
        if match and int(match.group(1)) < len(payload.get("Details") or []):
            item = str(payload["Details"][int(match.group(1))]["InventoryID"])
            items.append(item)
            if "cannot be found" in text:
                hints.append(
                    f"create stock item {item} in Acumatica or correct {item_field} on the Salesforce product"
                )
            else:
                hints.append(f"make stock item {item} available for sale in Acumatica ({text.rstrip('.')})")
        elif path == "CustomerID" and "status" in text.lower():
            customer_blocked = True
            hints.append(f"take customer {customer_id} off hold in Acumatica ({text.rstrip('.')})")
    if not hints:
        return error
    blocked: dict[str, Any] = {}
    if items:
        blocked["items"] = sorted(set(items))
    if customer_blocked:
        blocked["customer"] = customer_id
    return BlockedRecord(
        error.message,
        field_errors=error.field_errors,
        code=error.code,
        hint="; ".join(hints) + " — the order is retried by itself once that is done",
        blocked_on=blocked,
        response=error.response,
    )
