"""The flows' small view of each system: what to read and write, in the fewest calls.

The gateways know SOQL and OData shapes and batch every lookup (one call for many records), so a
flow costs about one Acumatica call per record written and a few Salesforce calls per thousand.
They count the calls they cause through the HTTP client's request hook (see ``CallCounter``).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx2

from ml_connector.acumatica import AcumaticaClient, odata
from ml_connector.errors import ConfigError
from ml_connector.salesforce import SalesforceClient, soql

__all__ = ["AcumaticaGateway", "CallCounter", "SalesforceGateway", "each_concurrently"]

# Records per batched lookup: keeps the $filter / IN list well inside URL length limits.
LOOKUP_BATCH = 40
SOQL_ID_BATCH = 200
# AR documents that lower a customer's balance (§6.4 document types).
CREDIT_DOCUMENT_TYPES = frozenset({"Credit Memo", "Cash Return"})


T = TypeVar("T")
R = TypeVar("R")


async def each_concurrently(
    items: Sequence[T], work: Callable[[T], Awaitable[R]], *, limit: int
) -> list[R | Exception]:
    """``work(item)`` for every item, at most ``limit`` at once; results (or exceptions) in item order.

    Every item runs to its end even when another fails, so no write is abandoned half-way; the
    caller decides what an exception means (park the record, or fail the page).
    """
    gate = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> R | Exception:
        async with gate:
            try:
                return await work(item)
            except Exception as exc:
                return exc

    return list(await asyncio.gather(*(one(item) for item in items)))


class CallCounter:
    """Counts requests by method; install as an httpx2 ``request`` event hook."""

    def __init__(self) -> None:
        self.by_method: Counter[str] = Counter()

    async def __call__(self, request: httpx2.Request) -> None:
        """Count one outgoing request."""
        self.by_method[request.method] += 1

    @property
    def total(self) -> int:
        """Requests of every method."""
        return sum(self.by_method.values())

    @property
    def writes(self) -> int:
        """Requests that may change data."""
        return sum(n for method, n in self.by_method.items() if method in ("POST", "PUT", "PATCH", "DELETE"))


_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


def _select(fields: Sequence[str], children: str | None) -> str:
    """The SELECT list; field names are checked as identifiers (values only ever go through soql)."""
    bad = [name for name in fields if not _IDENTIFIER.match(name)]
    if bad:
        raise ConfigError(
            f"not a Salesforce field name: {', '.join(bad)}", hint="check the [mapping] field names"
        )
    return ", ".join([*fields, children] if children else fields)


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _wire(record: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready field values for Salesforce: decimals as numbers, dates as ISO text."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Decimal):
            out[key] = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


class SalesforceGateway:
    """Reads changed records in compound-cursor order and writes back in collections of 200."""

    def __init__(self, client: SalesforceClient, *, batch_size: int = 2000) -> None:
        self.client = client
        self.batch_size = batch_size

    async def changed_pages(
        self,
        sobject: str,
        fields: Sequence[str],
        since: datetime | None,
        *,
        include_deleted: bool = True,
        where: str | None = None,
        children: str | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of records with ``SystemModstamp >= since``, ordered by (SystemModstamp, Id).

        ``where`` is an extra condition built with :mod:`ml_connector.salesforce.soql`;
        ``children`` a child subquery such as ``(SELECT Id FROM OrderItems)``.
        """
        conditions = []
        if since is not None:
            conditions.append(f"SystemModstamp >= {soql.datetime_literal(since)}")
        if where:
            conditions.append(where)
        text = f"SELECT {_select(fields, children)} FROM {sobject}"  # noqa: S608 - identifiers checked
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        text += " ORDER BY SystemModstamp ASC, Id ASC"
        async for page in self.client.query_pages(
            text, batch_size=self.batch_size, include_deleted=include_deleted
        ):
            if page.records:
                yield page.records

    async def by_ids(
        self,
        sobject: str,
        fields: Sequence[str],
        ids: Iterable[str],
        *,
        include_deleted: bool = True,
        where: str | None = None,
        children: str | None = None,
    ) -> list[dict[str, Any]]:
        """The records with these ids (deleted ones too by default), in cursor order."""
        wanted = list(dict.fromkeys(ids))
        records: list[dict[str, Any]] = []
        select = _select(fields, children)
        for chunk in _chunks(wanted, SOQL_ID_BATCH):
            text = f"SELECT {select} FROM {sobject} WHERE Id IN {soql.in_list(chunk)}"  # noqa: S608
            if where:
                text += f" AND {where}"
            text += " ORDER BY SystemModstamp ASC, Id ASC"
            async for page in self.client.query_pages(
                text, batch_size=self.batch_size, include_deleted=include_deleted
            ):
                records.extend(page.records)
        return records

    async def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """Update by Id in collections of 200; returns the error message of each refused record."""
        results = await self.client.update_many(sobject, [_wire(r) for r in records])
        return {
            str(record["Id"]): str(result.error or "refused")
            for record, result in zip(records, results, strict=True)
            if not result.success
        }

    async def upsert(
        self, sobject: str, ext_field: str, records: Sequence[Mapping[str, Any]]
    ) -> dict[str, str]:
        """Upsert on an external id in collections of 200; returns errors by external-id value."""
        results = await self.client.upsert_many(sobject, ext_field, [_wire(r) for r in records])
        return {
            str(record[ext_field]): str(result.error or "refused")
            for record, result in zip(records, results, strict=True)
            if not result.success
        }


class AcumaticaGateway:
    """Customer, contact, invoice and credit reads and writes, lookups batched by ``$filter``."""

    def __init__(self, client: AcumaticaClient) -> None:
        self.client = client

    @property
    def concurrency(self) -> int:
        """How many record writes a flow may have under way at once: the client's in-flight limit."""
        return self.client.max_concurrent

    @property
    def has_external_refs(self) -> bool:
        """``SalesInvoice.ExternalRef`` and ``Contact.ExtRefNbr`` exist from Default 24.200.001 (§1.4)."""
        parts = tuple(int(p) for p in self.client.endpoint_version.split("."))
        return parts >= (24, 200, 1)

    async def _find_each(
        self, entity: str, filters: Sequence[odata.Expr], **params: Any
    ) -> list[dict[str, Any]]:
        """The records matching each filter, the list calls side by side; results in filter order."""
        pages = await each_concurrently(
            filters, lambda expr: self.client.find(entity, expr, **params), limit=self.concurrency
        )
        records: list[dict[str, Any]] = []
        for page in pages:
            if isinstance(page, Exception):
                raise page
            records.extend(page)
        return records

    async def _find_by(
        self, entity: str, field: str, values: Iterable[str], **params: Any
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        wanted = [v for v in dict.fromkeys(values) if v]
        filters = [
            odata.any_of(*(odata.field(field).eq(value) for value in chunk))
            for chunk in _chunks(wanted, LOOKUP_BATCH)
        ]
        if filters:
            for record in await self._find_each(entity, filters, **params):
                key = record.get(field)
                if key is not None:
                    found.setdefault(str(key), record)
        return found

    # -- customers ---------------------------------------------------------------------------------
    async def customers_by_account_ref(self, account_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Existing customers whose ``AccountRef`` is one of these Salesforce Account Ids."""
        return await self._find_by("Customer", "AccountRef", account_ids)

    async def customers_for_accounts(
        self, account_ids: Sequence[str], customer_ids: Sequence[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """One batched lookup for new accounts: customers by ``AccountRef`` and by candidate CustomerID."""
        by_ref: dict[str, dict[str, Any]] = {}
        by_id: dict[str, dict[str, Any]] = {}
        terms = [("AccountRef", v) for v in dict.fromkeys(account_ids) if v]
        terms += [("CustomerID", v) for v in dict.fromkeys(customer_ids) if v]
        filters = [
            odata.any_of(*(odata.field(name).eq(value) for name, value in chunk))
            for chunk in _chunks(terms, LOOKUP_BATCH)
        ]
        if filters:
            for record in await self._find_each("Customer", filters):
                if record.get("AccountRef"):
                    by_ref.setdefault(str(record["AccountRef"]), record)
                by_id.setdefault(str(record.get("CustomerID")), record)
        return by_ref, by_id

    async def customers(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Customers by CustomerID (missing ones absent)."""
        return await self._find_by("Customer", "CustomerID", customer_ids)

    async def put_customer(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update a customer (PUT matches by CustomerID when it is given)."""
        return await self.client.put("Customer", payload)

    async def customer_balances(self, customer_ids: Iterable[str]) -> dict[str, Decimal]:
        """AR balances of many customers in a few list calls (reference §6.1 option 2).

        The balance is the open balance of released documents (credit memos and cash returns
        subtract) minus the unapplied balance of open payments and prepayments: two ``$filter`` list
        calls per ``LOOKUP_BATCH`` customers instead of one ``$custom`` GET per customer (option 1).
        Every asked-for customer gets a value (zero when nothing is open). Ids compare without case,
        as Acumatica's keys do.
        """
        wanted = [v for v in dict.fromkeys(customer_ids) if v]
        balances = {customer_id: Decimal(0) for customer_id in wanted}
        by_key = {customer_id.casefold(): customer_id for customer_id in wanted}
        is_open = odata.field("Status").eq("Open")
        filters = [
            is_open & odata.any_of(*(odata.field("CustomerID").eq(value) for value in chunk))
            for chunk in _chunks(wanted, LOOKUP_BATCH)
        ]
        if not filters:
            return balances
        documents, payments = await asyncio.gather(
            self._find_each(
                "SalesInvoice", filters, select=["Type", "ReferenceNbr", "CustomerID", "Status", "Balance"]
            ),
            self._find_each(
                "Payment",
                filters,
                select=["Type", "ReferenceNbr", "CustomerID", "Status", "UnappliedBalance"],
            ),
        )
        for document in documents:
            owner = by_key.get(str(document.get("CustomerID") or "").casefold())
            if owner is not None:
                sign = -1 if document.get("Type") in CREDIT_DOCUMENT_TYPES else 1
                balances[owner] += sign * Decimal(str(document.get("Balance") or 0))
        for payment in payments:
            owner = by_key.get(str(payment.get("CustomerID") or "").casefold())
            if owner is not None:
                balances[owner] -= Decimal(str(payment.get("UnappliedBalance") or 0))
        return balances

    async def customers_modified_since(self, since: datetime) -> AsyncIterator[dict[str, Any]]:
        """Customers whose record changed after ``since`` (minus the overlap)."""
        async for record in self.client.modified_since("Customer", since):
            yield record

    async def documents_modified_since(self, entity: str, since: datetime) -> AsyncIterator[dict[str, Any]]:
        """AR documents (SalesInvoice, Payment) changed after ``since``: balances move with them."""
        select = ["Type", "ReferenceNbr", "CustomerID", "LastModifiedDateTime", "Status"]
        async for record in self.client.modified_since(entity, since, select=select):
            yield record

    # -- contacts ----------------------------------------------------------------------------------
    async def contacts_by_ext_ref(self, contact_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Acumatica contacts whose ``ExtRefNbr`` is one of these Salesforce Contact Ids."""
        return await self._find_by("Contact", "ExtRefNbr", contact_ids)

    async def put_contact(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create (no ContactID) or update (with ContactID) a contact."""
        return await self.client.put("Contact", payload)

    # -- invoices ----------------------------------------------------------------------------------
    async def invoices_by_customer_order(
        self, order_numbers: Iterable[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """SalesInvoices by ``CustomerOrder`` (the Salesforce OrderNumber), all matches each."""
        found: dict[str, list[dict[str, Any]]] = {}
        wanted = [v for v in dict.fromkeys(order_numbers) if v]
        filters = [
            odata.any_of(*(odata.field("CustomerOrder").eq(value) for value in chunk))
            for chunk in _chunks(wanted, LOOKUP_BATCH)
        ]
        if filters:
            for record in await self._find_each("SalesInvoice", filters):
                found.setdefault(str(record.get("CustomerOrder")), []).append(record)
        return found

    async def put_invoice(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """PUT a SalesInvoice (returns it with Details, so line ids can be kept)."""
        return await self.client.put("SalesInvoice", payload, expand=["Details"])

    async def get_invoice(self, reference_nbr: str, doc_type: str = "Invoice") -> dict[str, Any]:
        """One SalesInvoice with its Details."""
        return await self.client.get("SalesInvoice", [doc_type, reference_nbr], expand=["Details"])

    async def release_invoice(self, reference_nbr: str, doc_type: str = "Invoice") -> None:
        """Run ``ReleaseSalesInvoice`` (posts to the GL) and wait for it."""
        await self.client.invoke_action(
            "SalesInvoice", "ReleaseSalesInvoice", {"Type": doc_type, "ReferenceNbr": reference_nbr}
        )

    async def stock_items(self, inventory_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stock items by InventoryID (missing ones absent)."""
        return await self._find_by(
            "StockItem", "InventoryID", inventory_ids, select=["InventoryID", "ItemStatus"]
        )
