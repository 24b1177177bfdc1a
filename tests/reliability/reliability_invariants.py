"""The promises a chaos run must keep, checked against the fakes' own records and the ledger.

- each Salesforce Account ↔ exactly one Acumatica Customer (by ``AccountRef``), written back;
- each Contact ↔ exactly one Acumatica Contact (by ``ExtRefNbr``) under its account's customer;
- each activated Order ↔ exactly one SalesInvoice (by ``CustomerOrder``) with the right customer,
  lines, quantities, prices and total — or, for the known unhappy items, no invoice and a parked
  link with a readable reason; no Draft order has an invoice;
- every Account shows its customer's status, credit limit and AR balance;
- every record has a link and ledger events; nothing is left ``in_doubt``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector.admin import open_workspace
from ml_connector.sandbox.catalog import CATALOG
from ml_connector.store import LinkStatus

# Orders with these items cannot be invoiced: no stock item, or one not for sale (catalog.py).
UNHAPPY_ITEMS = frozenset(i.item_no for i in CATALOG if not i.in_acumatica or i.acumatica_status != "Active")


@dataclass
class Findings:
    """Counts and every broken promise, one readable line each."""

    accounts: int = 0
    contacts: int = 0
    activated_orders: int = 0
    parked_orders: int = 0
    duplicates: int = 0
    lost: int = 0
    recovered: int = 0
    ledger_retries: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)).normalize() if value is not None else Decimal(0)


def check_invariants(records: dict[str, Any], config: Path) -> Findings:
    """Check every promise; ``records`` is the ``sandbox_host`` dump."""
    sf, acu, balances = records["salesforce"], records["acumatica"], records["balances"]
    found = Findings()
    ws = open_workspace(config)
    try:
        store, conn = ws.store, ws.connection_id
        links: dict[tuple[str, str], Any] = {}
        for status in LinkStatus:
            for link in store.links_by_status(conn, status):
                links[(link.flow, link.source_id)] = link
        events: Counter[tuple[str, str]] = Counter()
        for event in store.audit_events(conn):
            events[(event["flow"], event["source_id"])] += 1
            found.recovered += event["kind"] == "recovered"
        found.ledger_retries = sum(int((run.get("counts") or {}).get("retried", 0)) for run in _all_runs(ws))
    finally:
        ws.close()

    for (flow, source), link in links.items():
        if link.status is LinkStatus.IN_DOUBT:
            found.problem(f"{flow} {source} left in_doubt")

    customers_by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for customer in acu["Customer"]:
        if customer.get("AccountRef"):
            customers_by_ref[str(customer["AccountRef"])].append(customer)
    customer_of: dict[str, str] = {}
    for account in sf["Account"]:
        found.accounts += 1
        _check_account(found, account, customers_by_ref.get(account["Id"], []), balances, customer_of)
        _check_ledger(found, links, events, "accounts", account["Id"])

    contacts_by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for contact in acu["Contact"]:
        if contact.get("ExtRefNbr"):
            contacts_by_ref[str(contact["ExtRefNbr"])].append(contact)
    for contact in sf["Contact"]:
        found.contacts += 1
        mine = contacts_by_ref.get(contact["Id"], [])
        _count(found, "contact", contact["Id"], mine)
        if len(mine) == 1 and mine[0].get("BusinessAccount") != customer_of.get(contact["AccountId"]):
            found.problem(f"contact {contact['Id']} is under {mine[0].get('BusinessAccount')}, "
                          f"not {customer_of.get(contact['AccountId'])}")  # fmt: skip
        _check_ledger(found, links, events, "contacts", contact["Id"])

    _check_orders(found, sf, acu, links, events, customer_of)
    return found


def _all_runs(ws: Any) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from ml_connector.store._tables import runs

    with ws.store.read() as db:
        return [dict(row._mapping) for row in db.execute(sa.select(runs))]


def _count(found: Findings, what: str, source: str, targets: list[Any]) -> None:
    if not targets:
        found.lost += 1
        found.problem(f"{what} {source} has no counterpart in Acumatica")
    elif len(targets) > 1:
        found.duplicates += len(targets) - 1
        found.problem(f"{what} {source} has {len(targets)} counterparts in Acumatica")


def _check_account(
    found: Findings,
    account: dict[str, Any],
    customers: list[dict[str, Any]],
    balances: dict[str, Any],
    customer_of: dict[str, str],
) -> None:
    _count(found, "account", account["Id"], customers)
    if len(customers) != 1:
        return
    customer = customers[0]
    key = str(customer["CustomerID"])
    customer_of[account["Id"]] = key
    shown = {
        "Acumatica_Customer_ID__c": (account.get("Acumatica_Customer_ID__c"), key),
        "Acumatica_Status__c": (account.get("Acumatica_Status__c"), customer.get("Status")),
        "Acumatica_Credit_Limit__c": (
            _dec(account.get("Acumatica_Credit_Limit__c")),
            _dec(customer.get("CreditLimit")),
        ),
        "Acumatica_AR_Balance__c": (_dec(account.get("Acumatica_AR_Balance__c")), _dec(balances.get(key))),
    }
    for name, (on_account, in_acumatica) in shown.items():
        if on_account != in_acumatica:
            found.problem(f"account {account['Id']} shows {name}={on_account}, Acumatica has {in_acumatica}")


def _check_ledger(
    found: Findings,
    links: dict[tuple[str, str], Any],
    events: Counter[tuple[str, str]],
    flow: str,
    source: str,
) -> None:
    if (flow, source) not in links:
        found.problem(f"{flow} {source} has no ledger link")
    if not events[(flow, source)]:
        found.problem(f"{flow} {source} has no ledger events")


def _check_orders(
    found: Findings,
    sf: dict[str, Any],
    acu: dict[str, Any],
    links: dict[tuple[str, str], Any],
    events: Counter[tuple[str, str]],
    customer_of: dict[str, str],
) -> None:
    items_by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in sf["OrderItem"]:
        items_by_order[item["OrderId"]].append(item)
    product_of_entry = {e["Id"]: e["Product2Id"] for e in sf["PricebookEntry"]}
    item_no = {p["Id"]: p.get("ERP_Item_No__c") for p in sf["Product2"]}
    invoices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice in acu["SalesInvoice"]:
        invoices[str(invoice.get("CustomerOrder"))].append(invoice)
    for order in sf["Order"]:
        mine = invoices.get(str(order["OrderNumber"]), [])
        if order.get("StatusCode") != "Activated":
            if mine:
                found.problem(f"draft order {order['OrderNumber']} has an invoice")
            continue
        found.activated_orders += 1
        _check_ledger(found, links, events, "orders", order["Id"])
        lines = sorted(
            (str(item_no[product_of_entry[i["PricebookEntryId"]]]), _dec(i["Quantity"]), _dec(i["UnitPrice"]))
            for i in items_by_order[order["Id"]]
        )
        if any(line[0] in UNHAPPY_ITEMS for line in lines):
            link = links.get(("orders", order["Id"]))
            if mine:
                found.problem(f"order {order['OrderNumber']} has unsellable items but got an invoice")
            elif link is None or link.status is not LinkStatus.PARKED or not link.last_error or not link.hint:
                found.problem(f"order {order['OrderNumber']} is not parked with a reason and a fix")
            else:
                found.parked_orders += 1
            continue
        _count(found, "order", order["OrderNumber"], mine)
        if len(mine) != 1:
            continue
        invoice = mine[0]
        if invoice.get("CustomerID") != customer_of.get(order["AccountId"]):
            found.problem(f"invoice for {order['OrderNumber']} bills {invoice.get('CustomerID')}, "
                          f"not {customer_of.get(order['AccountId'])}")  # fmt: skip
        got = sorted(
            (str(d["InventoryID"]), _dec(d["Qty"]), _dec(d["UnitPrice"]))
            for d in invoice.get("Details") or []
        )
        if got != lines:
            found.problem(f"invoice for {order['OrderNumber']} has lines {got}, the order has {lines}")
        total = sum((qty * price for _, qty, price in lines), Decimal(0))
        if _dec(invoice.get("Amount")) != total.normalize():
            found.problem(
                f"invoice for {order['OrderNumber']} totals {invoice.get('Amount')}, expected {total}"
            )
