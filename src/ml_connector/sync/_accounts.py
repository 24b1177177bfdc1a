"""accounts flow: Salesforce Account → Acumatica Customer (DESIGN.md, flows table).

Per page of changed accounts: ledger links are read in one query; accounts with no trustworthy link
are looked up in Acumatica by ``AccountRef`` in one batched call (so a lost state database never
creates a second customer); each account is mapped, compared with the ledger's content hash and
written only when it changed; the CustomerID is written back to the Account's external-id field in
collections of 200. Deleted accounts set their customer Inactive (configurable), never delete it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ml_connector.errors import RecordError
from ml_connector.store import EventKind, Link, LinkStatus, RecordOutcome
from ml_connector.sync._common import (
    changed_fields,
    create_with_intent,
    diff,
    jsonable,
    outcome_of,
    raise_on_outage,
    write_back,
)
from ml_connector.sync._context import PlannedWrite, SyncContext
from ml_connector.sync._gateways import each_concurrently
from ml_connector.sync._mapping import account_to_customer, customer_id_for

__all__ = ["ACCOUNT_FIELDS", "AccountsFlow"]

FLOW = "accounts"
ACCOUNT_FIELDS = (
    "Id",
    "Name",
    "AccountNumber",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "Phone",
    "Website",
    "IsDeleted",
    "CreatedDate",
    "SystemModstamp",
)


class AccountsFlow:
    """Salesforce Account → Acumatica Customer."""

    name = FLOW
    sobject = "Account"

    def fields(self, ctx: SyncContext) -> tuple[str, ...]:
        """Account fields the flow reads (the configured external-id field included)."""
        return (*ACCOUNT_FIELDS, ctx.config.mapping.account_customer_id_field)

    async def sync_records(
        self, ctx: SyncContext, accounts: Sequence[Mapping[str, Any]]
    ) -> list[RecordOutcome]:
        """Bring ``accounts`` to Acumatica; returns their outcomes (not yet recorded)."""
        mapping = ctx.config.mapping
        links = ctx.store.get_links(ctx.connection_id, FLOW, [a["Id"] for a in accounts])
        unlinked = [a for a in accounts if _needs_lookup(links.get(a["Id"]))]
        candidates = {
            a["Id"]: cid
            for a in unlinked
            if not a.get("IsDeleted") and (cid := customer_id_for(a, mapping.customer_id_strategy))
        }
        existing, taken = (
            await ctx.acumatica.customers_for_accounts([a["Id"] for a in unlinked], list(candidates.values()))
            if unlinked
            else ({}, {})
        )
        outcomes: list[RecordOutcome] = []
        write_backs: list[dict[str, Any]] = []

        async def sync_one(account: Mapping[str, Any]) -> RecordOutcome:
            found: Mapping[str, Any] | None = existing.get(account["Id"])
            if found is None and account["Id"] in candidates:
                found = _adoptable(account, taken.get(candidates[account["Id"]]))
            return await self._sync_one(ctx, account, links.get(account["Id"]), found)

        # Writes run side by side (up to the client's in-flight limit) so the licence ceiling is reachable.
        results = await each_concurrently(accounts, sync_one, limit=ctx.acumatica.concurrency)
        raise_on_outage(results)
        for account, result in zip(accounts, results, strict=True):
            link = links.get(account["Id"])
            outcome = outcome_of(FLOW, account["Id"], result, link)
            outcomes.append(outcome)
            customer_id = outcome.target_key or (link.target_key if link else None)
            if (
                customer_id
                and outcome.status is LinkStatus.SYNCED
                and not account.get("IsDeleted")
                and account.get(mapping.account_customer_id_field) != customer_id
            ):
                write_backs.append({"Id": account["Id"], mapping.account_customer_id_field: customer_id})
        if write_backs:
            await write_back(ctx, FLOW, "Account", write_backs, outcomes)
        return outcomes

    async def _sync_one(
        self, ctx: SyncContext, account: Mapping[str, Any], link: Link | None, found: Mapping[str, Any] | None
    ) -> RecordOutcome:
        mapping = ctx.config.mapping
        version = str(account.get("SystemModstamp") or "")
        if account.get("IsDeleted"):
            return await self._deleted(ctx, account, link, found)
        customer_id = (
            (link.target_key if link and link.target_key else None)
            or (str(found["CustomerID"]) if found else None)
            or customer_id_for(account, mapping.customer_id_strategy)
        )
        mapped = account_to_customer(account, mapping, customer_id)
        note = "; ".join(mapped.truncated) or None
        if link and link.status is LinkStatus.SYNCED and link.content_hash == mapped.hash and link.target_key:
            return RecordOutcome(
                FLOW,
                account["Id"],
                LinkStatus.SYNCED,
                EventKind.UNCHANGED,
                source_version=version,
                audit=False,
            )
        previous = dict(link.data.get("sent", {})) if link else {}
        is_new = found is None and not (link and link.target_key)
        payload = dict(mapped.payload)
        if not is_new:
            payload.pop("CustomerClass", None)  # the class only matters on create
        if ctx.dry_run:
            ctx.plan.append(
                PlannedWrite(
                    FLOW,
                    account["Id"],
                    "acumatica",
                    "create" if is_new else "update",
                    customer_id,
                    diff(previous, payload),
                )
            )
            return RecordOutcome(
                FLOW,
                account["Id"],
                LinkStatus.SYNCED,
                EventKind.CREATED if is_new else EventKind.UPDATED,
                target_key=customer_id,
            )
        if is_new and customer_id is None:
            # Auto-numbered CustomerID: a lost answer is resolved by AccountRef before any new create.
            async def by_reference() -> dict[str, Any] | None:
                return (await ctx.acumatica.customers_by_account_ref([account["Id"]])).get(account["Id"])

            saved = await create_with_intent(
                ctx, FLOW, account["Id"], what="customer (auto-numbered)",
                create=lambda: ctx.acumatica.put_customer(payload), find=by_reference,
            )  # fmt: skip
        else:
            saved = await ctx.acumatica.put_customer(payload)  # by key: safe to send again next run
        target = str(saved["CustomerID"])
        return RecordOutcome(
            FLOW,
            account["Id"],
            LinkStatus.SYNCED,
            EventKind.CREATED if is_new else EventKind.UPDATED,
            target_key=target,
            content_hash=mapped.hash,
            source_version=version,
            fields=changed_fields(previous, mapped.payload),
            message=note,
            data={"sent": jsonable(mapped.payload)},
        )

    async def _deleted(
        self, ctx: SyncContext, account: Mapping[str, Any], link: Link | None, found: Mapping[str, Any] | None
    ) -> RecordOutcome:
        customer_id = (link.target_key if link else None) or (str(found["CustomerID"]) if found else None)
        if customer_id is None or (link and link.status is LinkStatus.DELETED):
            return RecordOutcome(FLOW, account["Id"], LinkStatus.DELETED, EventKind.UNCHANGED, audit=False)
        if ctx.config.mapping.deleted_account_action == "ignore":
            return RecordOutcome(
                FLOW,
                account["Id"],
                LinkStatus.DELETED,
                EventKind.SKIPPED,
                message="account deleted in Salesforce; customer left as is (config)",
            )
        if ctx.dry_run:
            ctx.plan.append(
                PlannedWrite(
                    FLOW,
                    account["Id"],
                    "acumatica",
                    "deactivate",
                    customer_id,
                    {"Status": (None, "Inactive")},
                )
            )
            return RecordOutcome(
                FLOW, account["Id"], LinkStatus.DELETED, EventKind.DELETED, target_key=customer_id
            )
        await ctx.acumatica.put_customer({"CustomerID": customer_id, "Status": "Inactive"})
        return RecordOutcome(
            FLOW,
            account["Id"],
            LinkStatus.DELETED,
            EventKind.DELETED,
            target_key=customer_id,
            fields=["Status"],
            message="account deleted in Salesforce: customer set Inactive",
        )


def _adoptable(account: Mapping[str, Any], customer: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """A customer already holding the CustomerID this account would get: ours to link, or a clash.

    With no ``AccountRef`` it is a customer entered in Acumatica before the connector (first-run
    matching): the account is linked to it. With another account's Id there, writing would overwrite
    someone else's customer: the account is parked instead.
    """
    if customer is None:
        return None
    owner = customer.get("AccountRef")
    if owner and owner != account["Id"]:
        raise RecordError(
            f"CustomerID {customer.get('CustomerID')} already belongs to Salesforce account {owner}",
            field_errors={"AccountNumber": "CustomerID already used"},
            hint='give this account a unique AccountNumber, or set mapping.customer_id_strategy = "salesforce_id"',
        )
    return customer


def _needs_lookup(link: Link | None) -> bool:
    return link is None or link.status is LinkStatus.IN_DOUBT or not link.target_key
