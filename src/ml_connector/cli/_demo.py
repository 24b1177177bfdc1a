"""``ml-connector demo``: the whole product against the sandboxes, in one command, from nothing.

Both fakes run in-process with seed data of a building-products distributor; a fresh folder gets a
config, a master key, stored credentials and a SQLite state database; every flow runs; then finance
releases a few invoices and takes a payment in Acumatica and the credit flow brings the balances back
to Salesforce. The tables at the end put a Salesforce order beside the invoice it became, and an
account beside its customer's credit.
"""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from ml_connector.cli._base import console
from ml_connector.cli._sync import print_report

__all__ = ["demo"]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("ml-connector-demo"),
    show_default=True,
    help="Folder for the demo's config, key and state (emptied first).",
)
@click.option("--accounts", type=int, default=20, show_default=True)
@click.option("--orders", type=int, default=30, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(directory: Path, accounts: int, orders: int, seed: int) -> None:
    """Run every flow against seeded sandboxes in a fresh folder and show what happened."""
    from ml_connector.admin import open_workspace
    from ml_connector.sandbox._control import SandboxTransport
    from ml_connector.sandbox._serve import SandboxPair, SeedSize, write_config
    from ml_connector.sync import Transports, run_sync

    if directory.exists():
        shutil.rmtree(directory)
    pair = SandboxPair.create(SeedSize(seed=seed, accounts=accounts, orders=orders))
    config_path = write_config(pair, directory)
    console.print(f"[bold]ml-connector demo[/bold] — sandboxes seeded: {accounts} accounts, {orders} orders "
                  f"({len(pair.salesforce.records('Order'))} in Salesforce), catalogue of "
                  f"{len(pair.acumatica.records('StockItem'))} stock items in Acumatica")  # fmt: skip
    transports = Transports(SandboxTransport(pair.salesforce.app), SandboxTransport(pair.acumatica.app))
    ws = open_workspace(config_path)
    try:
        console.rule(
            "1. first sync: accounts → customers, contacts, activated orders → invoices, credit back"
        )
        report = asyncio.run(run_sync(ws, transports=transports))
        print_report(report)

        console.rule("2. finance releases invoices and takes a payment in Acumatica; credit flows back")
        released = _finance_day(pair)
        console.print(released)
        report = asyncio.run(run_sync(ws, ["credit"], transports=transports))
        print_report(report)

        console.rule("3. a second sync with nothing changed writes nothing")
        before = _data_writes(pair)
        report = asyncio.run(run_sync(ws, transports=transports))
        print_report(report)
        console.print(f"data writes seen by the sandboxes during this sync: {_data_writes(pair) - before}")

        console.rule("side by side")
        _show_order(pair, ws)
        _show_credit(pair, ws)
        _show_parked(ws)
    finally:
        ws.close()
    console.rule("where things are")
    console.print(f"config        {config_path}")
    console.print(f"state (SQLite) {ws.config.database_url.removeprefix('sqlite:///')}")
    console.print(f"audit trail   ml-connector --config {config_path} audit --format table")
    console.print(f"parked        ml-connector --config {config_path} parked list")
    console.print(
        "live sandboxes: ml-connector sandbox --write-config DIR, then ml-connector --config DIR/ml-connector.toml sync"
    )


AUTH_PATHS = ("/services/oauth2/token", "/identity/connect/", "/entity/auth/")


def _data_writes(pair: Any) -> int:
    """Writes both sandboxes saw, sign-in and sign-out calls left out."""
    total = 0
    for sandbox in (pair.salesforce, pair.acumatica):
        for key, count in sandbox.control.stats.snapshot()["calls"].items():
            method, _, path = key.partition(" ")
            if method in ("POST", "PUT", "PATCH", "DELETE") and not any(p in path for p in AUTH_PATHS):
                total += count
    return total


def _finance_day(pair: Any) -> str:
    invoices = [i for i in pair.acumatica.records("SalesInvoice") if i.get("CustomerOrder")]
    ours = [i for i in invoices if i.get("Status") not in ("Open", "Closed")][:3]
    for invoice in ours:
        pair.acumatica.release_invoice(invoice["ReferenceNbr"])
    paid = ""
    if ours:
        first = ours[0]
        amount = (Decimal(str(first.get("Amount") or 0)) / 2).quantize(Decimal("0.01"))
        pair.acumatica.apply_payment(first["CustomerID"], amount, {first["ReferenceNbr"]: amount})
        paid = f"; payment of {amount:,.2f} applied to {first['ReferenceNbr']}"
    return f"released {', '.join(i['ReferenceNbr'] for i in ours) or 'nothing'}{paid}"


def _show_order(pair: Any, ws: Any) -> None:
    links = [
        link for link in ws.store.links_by_status(ws.connection_id, _synced(), "orders") if link.target_key
    ]
    if not links:
        return
    link = links[0]
    order = next(o for o in pair.salesforce.records("Order") if o["Id"] == link.source_id)
    items = [i for i in pair.salesforce.records("OrderItem") if i.get("OrderId") == order["Id"]]
    products = {p["Id"]: p for p in pair.salesforce.records("Product2")}
    invoice = next(
        i for i in pair.acumatica.records("SalesInvoice") if i.get("ReferenceNbr") == link.target_key
    )
    table = Table(
        "Salesforce Order",
        "",
        "Acumatica SalesInvoice",
        "",
        title="an activated order and the invoice it became",
    )
    table.add_row(
        "OrderNumber", str(order.get("OrderNumber")), "CustomerOrder", str(invoice.get("CustomerOrder"))
    )
    table.add_row("Status", str(order.get("Status")), "ReferenceNbr / Status",
                  f"{invoice.get('ReferenceNbr')} / {invoice.get('Status')}")  # fmt: skip
    table.add_row("TotalAmount", _fmt(order.get("TotalAmount")), "Amount", _fmt(invoice.get("Amount")))
    table.add_row("Acumatica_Invoice_Nbr__c", str(order.get("Acumatica_Invoice_Nbr__c")), "CustomerID",
                  str(invoice.get("CustomerID")))  # fmt: skip
    for item, line in zip(items, invoice.get("Details") or [], strict=False):
        product = products.get(item.get("Product2Id"), {})
        table.add_row(f"  {product.get('ERP_Item_No__c')} × {_fmt(item.get('Quantity'))}", _fmt(item.get("UnitPrice")),
                      f"  {line.get('InventoryID')} × {_fmt(line.get('Qty'))}", _fmt(line.get("UnitPrice")))  # fmt: skip
    console.print(table)


def _show_credit(pair: Any, ws: Any) -> None:
    accounts = [a for a in pair.salesforce.records("Account") if a.get("Acumatica_AR_Balance__c")]
    accounts = accounts or [
        a for a in pair.salesforce.records("Account") if a.get("Acumatica_Customer_ID__c")
    ]
    if not accounts:
        return
    account = accounts[0]
    customer: dict[str, Any] = next(
        (
            c
            for c in pair.acumatica.records("Customer")
            if c.get("CustomerID") == account.get("Acumatica_Customer_ID__c")
        ),
        {},
    )
    table = Table(
        "Salesforce Account", "", "Acumatica Customer", "", title="an account and its customer's credit"
    )
    table.add_row("Name", str(account.get("Name")), "CustomerName", str(customer.get("CustomerName")))
    table.add_row("Acumatica_Customer_ID__c", str(account.get("Acumatica_Customer_ID__c")), "CustomerID",
                  str(customer.get("CustomerID")))  # fmt: skip
    table.add_row(
        "Acumatica_Status__c", str(account.get("Acumatica_Status__c")), "Status", str(customer.get("Status"))
    )
    table.add_row("Acumatica_Credit_Limit__c", _fmt(account.get("Acumatica_Credit_Limit__c")), "CreditLimit",
                  _fmt(customer.get("CreditLimit")))  # fmt: skip
    table.add_row("Acumatica_AR_Balance__c", _fmt(account.get("Acumatica_AR_Balance__c")), "balance of open AR documents",
                  "(computed by Acumatica)")  # fmt: skip
    table.add_row("Acumatica_Synced_At__c", str(account.get("Acumatica_Synced_At__c")), "", "")
    console.print(table)


def _show_parked(ws: Any) -> None:
    from ml_connector.sync import parked_records

    links = parked_records(ws)
    if not links:
        console.print("no parked records")
        return
    console.print(
        f"[bold]{len(links)} parked record(s)[/bold] — each waits for its fix and is retried by itself:"
    )
    for link in links[:5]:
        console.print(f"  {link.flow} {link.source_id}: {link.last_error}")
        if link.hint:
            console.print(f"      fix: {link.hint}")
    if len(links) > 5:
        console.print(f"  … and {len(links) - 5} more: `ml-connector parked list`")


def _synced() -> Any:
    from ml_connector.store import LinkStatus

    return LinkStatus.SYNCED
