"""contacts flow: Salesforce Contact → Acumatica Contact linked to the account's customer.

``ContactID`` is auto-numbered (reference acumatica-api.md §6.2): a PUT without it always creates. So
the ContactID is kept in the ledger, contacts without a trustworthy link are looked up by
``ExtRefNbr`` (= the Salesforce Contact Id) in one batched call before any create, and a create is
preceded by a write-ahead intent so a lost answer is resolved by the same lookup.
A contact whose account has no customer yet brings that account through first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ml_connector.errors import RecordError
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
)
from ml_connector.sync._context import PlannedWrite, SyncContext
from ml_connector.sync._gateways import each_concurrently
from ml_connector.sync._mapping import contact_to_acumatica

__all__ = ["CONTACT_FIELDS", "ContactsFlow"]

FLOW = "contacts"
CONTACT_FIELDS = (
    "Id",
    "AccountId",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Title",
    "MailingStreet",
    "MailingCity",
    "MailingState",
    "MailingPostalCode",
    "MailingCountry",
    "IsDeleted",
    "CreatedDate",
    "SystemModstamp",
)


class ContactsFlow:
    """Salesforce Contact → Acumatica Contact."""

    name = FLOW
    sobject = "Contact"

    def __init__(self, accounts: AccountsFlow) -> None:
        self.accounts = accounts

    def fields(self, ctx: SyncContext) -> tuple[str, ...]:
        """Contact fields the flow reads."""
        return CONTACT_FIELDS

    async def sync_records(
        self, ctx: SyncContext, contacts: Sequence[Mapping[str, Any]]
    ) -> list[RecordOutcome]:
        """Bring ``contacts`` to Acumatica; returns their outcomes (not yet recorded)."""
        customers = await customers_for_accounts(ctx, self.accounts, [c.get("AccountId") for c in contacts])
        links = ctx.store.get_links(ctx.connection_id, FLOW, [c["Id"] for c in contacts])
        unlinked = [c["Id"] for c in contacts if _needs_lookup(links.get(c["Id"]))]
        existing = (
            await ctx.acumatica.contacts_by_ext_ref(unlinked)
            if unlinked and ctx.acumatica.has_external_refs
            else {}
        )
        results = await each_concurrently(
            contacts,
            lambda c: self._sync_one(ctx, c, links.get(c["Id"]), existing.get(c["Id"]), customers),
            limit=ctx.acumatica.concurrency,
        )
        raise_on_outage(results)
        outcomes = []
        for contact, result in zip(contacts, results, strict=True):
            link = links.get(contact["Id"])
            outcome = outcome_of(FLOW, contact["Id"], result, link)
            outcomes.append(outcome)
        return outcomes

    async def _sync_one(
        self,
        ctx: SyncContext,
        contact: Mapping[str, Any],
        link: Link | None,
        found: Mapping[str, Any] | None,
        customers: Mapping[str, str],
    ) -> RecordOutcome:
        contact_id = (link.target_key if link and link.target_key else None) or (
            str(found["ContactID"]) if found and found.get("ContactID") is not None else None
        )
        version = str(contact.get("SystemModstamp") or "")
        if contact.get("IsDeleted"):
            if contact_id is None or (link and link.status is LinkStatus.DELETED):
                return RecordOutcome(
                    FLOW, contact["Id"], LinkStatus.DELETED, EventKind.UNCHANGED, audit=False
                )
            if not ctx.dry_run:
                await ctx.acumatica.put_contact({"ContactID": int(contact_id), "Active": False})
            else:
                ctx.plan.append(
                    PlannedWrite(
                        FLOW, contact["Id"], "acumatica", "deactivate", contact_id, {"Active": (True, False)}
                    )
                )
            return RecordOutcome(
                FLOW,
                contact["Id"],
                LinkStatus.DELETED,
                EventKind.DELETED,
                target_key=contact_id,
                fields=["Active"],
                message="contact deleted in Salesforce: set inactive",
            )
        account_id = contact.get("AccountId")
        customer_id = customers.get(str(account_id)) if account_id else None
        if customer_id is None and account_id:
            raise BlockedRecord(
                "the contact's account has no Acumatica customer",
                field_errors={"AccountId": "no customer"},
                hint="fix the account (see `ml-connector parked list`); the contact follows by itself",
                blocked_on={"account": str(account_id)},
            )
        if customer_id is None:
            raise RecordError(
                "the contact has no account",
                field_errors={"AccountId": "required"},
                hint="give the contact an account in Salesforce: Acumatica contacts here belong to a customer",
            )
        mapped = contact_to_acumatica(contact, customer_id)
        if link and link.status is LinkStatus.SYNCED and link.content_hash == mapped.hash and link.target_key:
            return RecordOutcome(
                FLOW,
                contact["Id"],
                LinkStatus.SYNCED,
                EventKind.UNCHANGED,
                source_version=version,
                audit=False,
            )
        payload: dict[str, Any] = dict(mapped.payload)
        if not ctx.acumatica.has_external_refs:
            payload.pop("ExtRefNbr", None)  # Contact.ExtRefNbr exists from Default 24.200.001 (§1.4)
        previous = dict(link.data.get("sent", {})) if link else {}
        is_new = contact_id is None
        if not is_new:
            payload["ContactID"] = int(str(contact_id))
        if ctx.dry_run:
            ctx.plan.append(
                PlannedWrite(
                    FLOW,
                    contact["Id"],
                    "acumatica",
                    "create" if is_new else "update",
                    contact_id,
                    diff(previous, mapped.payload),
                )
            )
            return RecordOutcome(
                FLOW,
                contact["Id"],
                LinkStatus.SYNCED,
                EventKind.CREATED if is_new else EventKind.UPDATED,
                target_key=contact_id,
            )
        if is_new:

            async def by_reference() -> dict[str, Any] | None:
                if not ctx.acumatica.has_external_refs:
                    return None  # no ExtRefNbr before 24.200.001: the record stays in doubt
                return (await ctx.acumatica.contacts_by_ext_ref([contact["Id"]])).get(contact["Id"])

            saved = await create_with_intent(
                ctx, FLOW, contact["Id"], what="contact (ContactID is auto-numbered)",
                create=lambda: ctx.acumatica.put_contact(payload), find=by_reference,
                lookup_proves_absence=ctx.acumatica.has_external_refs,
            )  # fmt: skip
        else:
            saved = await ctx.acumatica.put_contact(payload)
        return RecordOutcome(
            FLOW,
            contact["Id"],
            LinkStatus.SYNCED,
            EventKind.CREATED if is_new else EventKind.UPDATED,
            target_key=str(saved["ContactID"]),
            content_hash=mapped.hash,
            source_version=version,
            fields=changed_fields(previous, mapped.payload),
            message="; ".join(mapped.truncated) or None,
            data={"sent": jsonable(mapped.payload), "customer": customer_id},
        )


def _needs_lookup(link: Link | None) -> bool:
    return link is None or link.status is LinkStatus.IN_DOUBT or not link.target_key


async def customers_for_accounts(
    ctx: SyncContext, accounts: AccountsFlow, account_ids: Sequence[Any]
) -> dict[str, str]:
    """CustomerID per Salesforce Account Id; accounts not yet synced are brought through first."""
    wanted = [str(a) for a in dict.fromkeys(account_ids) if a]
    links = ctx.store.get_links(ctx.connection_id, accounts.name, wanted)
    customers = {
        account_id: link.target_key
        for account_id, link in links.items()
        if link.target_key and link.status is LinkStatus.SYNCED
    }
    if ctx.dry_run:  # accounts this dry run already planned count as brought through
        for account_id in wanted:
            planned = ctx.planned.get((accounts.name, account_id))
            if planned is not None and planned.status is LinkStatus.SYNCED:
                customers.setdefault(account_id, planned.target_key or "(new customer)")
    missing = [a for a in wanted if a not in customers]
    if missing:
        records = await ctx.salesforce.by_ids("Account", accounts.fields(ctx), missing)
        outcomes = await accounts.sync_records(ctx, records)
        ctx.record(outcomes)
        customers.update(
            (o.source_id, o.target_key) for o in outcomes if o.target_key and o.status is LinkStatus.SYNCED
        )
    return customers
