"""Fuzz: hostile Salesforce records never crash a sync; each is synced correctly or parked readably.

Synced means checked in Acumatica's own records: exactly one counterpart, text cleaned of control
characters and cut to Acumatica's length with the cut recorded in the ledger, invoice lines with
the order's items, quantities and prices. Parked means a message and a fix a person can act on.
"""

from __future__ import annotations

import asyncio
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from fuzz_records import FuzzEnv, account_records, contact_records, make_fuzz_env, order_lines
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ml_connector.store import Link, LinkStatus

FULL = os.environ.get("ML_CONNECTOR_FULL_RELIABILITY", "").lower() in ("1", "true", "yes")
EXAMPLES = 150 if FULL else 25
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SELLABLE = {"LUM2X4-8", "OSB-7/16"}


def clean(value: Any) -> str:
    """What may reach Acumatica of a text: control characters out, outer blanks trimmed."""
    return CONTROL.sub("", str(value or "")).strip()


def link_of(env: FuzzEnv, flow: str, source_id: str) -> Link:
    link = env.ws.store.get_link(env.ws.connection_id, flow, source_id)
    assert link is not None, f"{flow} {source_id}: no ledger link"
    return link


def assert_parked_readably(link: Link) -> None:
    assert link.status is LinkStatus.PARKED, (link.status, link.last_error)
    assert link.last_error and link.last_error.strip(), "parked without a reason"
    assert "Traceback" not in link.last_error and len(link.last_error) < 2000, link.last_error
    assert link.hint and link.hint.strip(), f"parked without a fix: {link.last_error}"


def assert_fitted(env: FuzzEnv, flow: str, source_id: str, stored: Any, source: Any, limit: int) -> None:
    """``stored`` is the cleaned source, cut to ``limit`` with the cut noted in the ledger."""
    expected = clean(source)
    if not expected:
        assert stored in (None, ""), stored
        return
    assert stored is not None and len(str(stored)) <= limit
    if len(expected) <= limit:
        assert stored == expected
        return
    assert expected.startswith(str(stored)), (stored, expected[:80])
    messages = " ".join(
        str(e["message"] or "") for e in env.ws.store.history(env.ws.connection_id, source_id)
    )
    assert "cut from" in messages, f"{flow} {source_id}: a value was cut but the ledger does not say so"


def insert_order(env: FuzzEnv, account_id: str, lines: list[dict[str, Any]], description: Any) -> str | None:
    """A Draft order with ``lines`` (new products made for unknown items), then activated.

    Returns the order Id, or None when Salesforce refuses to activate it (an order needs products).
    """
    sf = env.pair.salesforce
    org = sf.org
    with org.transaction(client="sales-rep") as tx:
        pricebook = org.standard_pricebook_id
        entries = {}
        for line in lines:
            item = line["item"]
            product = next((p for p in org.rows("Product2", False) if p.get("ERP_Item_No__c") == item), None)
            if product is None:
                product_id = tx.create("Product2", {"Name": f"fuzz {item!r}"[:255], "ERP_Item_No__c": item,
                                                    "IsActive": True})  # fmt: skip
                tx.create("PricebookEntry", {"Pricebook2Id": pricebook, "Product2Id": product_id,
                                             "UnitPrice": 1.0, "IsActive": True})  # fmt: skip
            else:
                product_id = product["Id"]
            entries[item] = next(
                e["Id"]
                for e in tx.org.rows("PricebookEntry", False)
                if e["Product2Id"] == product_id and e["Pricebook2Id"] == pricebook
            )
        order_id = tx.create(
            "Order",
            {"AccountId": account_id, "Status": "Draft", "EffectiveDate": "2026-11-02",
             "Pricebook2Id": pricebook, "Description": description},
        )  # fmt: skip
        for line in lines:
            tx.create(
                "OrderItem",
                {"OrderId": order_id, "PricebookEntryId": entries[line["item"]], "Quantity": line["Quantity"],
                 "UnitPrice": line["UnitPrice"] if line["UnitPrice"] is not None else 0.0,
                 "Description": line["Description"]},
            )  # fmt: skip
    try:
        with org.transaction(client="sales-rep") as tx:
            tx.update("Order", order_id, {"Status": "Activated"})
    except Exception as exc:  # the org's own refusal: SaveFailed FAILED_ACTIVATION
        assert not lines and "at least one product" in str(exc), exc
        return None
    return order_id


def check_account(env: FuzzEnv, account: dict[str, Any]) -> str | None:
    """The account's customer id when synced (checked), None when parked (checked)."""
    link = link_of(env, "accounts", account["Id"])

    if link.status is not LinkStatus.SYNCED:
        assert_parked_readably(link)
        return None
    customers = [c for c in env.pair.acumatica.records("Customer") if c.get("AccountRef") == account["Id"]]
    assert len(customers) == 1, customers
    customer = customers[0]
    assert customer["CustomerID"] == link.target_key
    assert_fitted(env, "accounts", account["Id"], customer.get("CustomerName"), account["Name"], 255)
    street = [s.strip() for s in str(account.get("BillingStreet") or "").splitlines() if s.strip()]
    address = (customer.get("MainContact") or {}).get("Address") or {}
    assert_fitted(
        env, "accounts", account["Id"], address.get("AddressLine1"), street[0] if street else None, 50
    )
    assert_fitted(env, "accounts", account["Id"], address.get("City"), account.get("BillingCity"), 50)
    return str(customer["CustomerID"])


def check_contact(env: FuzzEnv, contact: dict[str, Any], customer_id: str | None) -> None:
    link = link_of(env, "contacts", contact["Id"])
    if link.status is not LinkStatus.SYNCED:
        assert_parked_readably(link)
        return
    found = [c for c in env.pair.acumatica.records("Contact") if c.get("ExtRefNbr") == contact["Id"]]
    assert len(found) == 1, found
    assert found[0].get("BusinessAccount") == customer_id
    assert_fitted(env, "contacts", contact["Id"], found[0].get("LastName"), contact["LastName"], 100)
    assert_fitted(env, "contacts", contact["Id"], found[0].get("FirstName"), contact.get("FirstName"), 50)
    assert_fitted(env, "contacts", contact["Id"], found[0].get("JobTitle"), contact.get("Title"), 255)


def check_order(env: FuzzEnv, order_id: str, lines: list[dict[str, Any]], customer_id: str | None) -> None:
    order = next(o for o in env.pair.salesforce.records("Order") if o["Id"] == order_id)
    link = link_of(env, "orders", order_id)
    invoices = [
        i
        for i in env.pair.acumatica.records("SalesInvoice")
        if i.get("CustomerOrder") == order["OrderNumber"] and i.get("CustomerID") == customer_id
    ]
    can_invoice = (
        customer_id is not None
        and all(line["item"] in SELLABLE for line in lines)
        and all(line["Quantity"] > 0 for line in lines)
    )
    if link.status is not LinkStatus.SYNCED:
        assert_parked_readably(link)
        assert not invoices
        assert not can_invoice or any(abs(line["Quantity"]) >= 1e8 for line in lines), link.last_error
        return
    assert can_invoice, f"order {order['OrderNumber']} should not have been invoiced"
    assert len(invoices) == 1, invoices
    invoice = invoices[0]
    assert invoice["ReferenceNbr"] == link.target_key
    want = sorted(
        (line["item"], Decimal(str(line["Quantity"])), Decimal(str(line["UnitPrice"] or 0))) for line in lines
    )
    got = sorted(
        (d["InventoryID"], Decimal(str(d["Qty"])), Decimal(str(d["UnitPrice"]))) for d in invoice["Details"]
    )
    assert [(i, q.normalize()) for i, q, _ in got] == [(i, q.normalize()) for i, q, _ in want]
    assert [p.quantize(Decimal("0.0001")) for *_, p in got] == [
        p.quantize(Decimal("0.0001")) for *_, p in want
    ]
    assert_fitted(env, "orders", order_id, invoice.get("Description"),
                  order.get("Description") or f"Salesforce order {order['OrderNumber']}", 256)  # fmt: skip


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    account=account_records(),
    contacts=st.lists(contact_records(), max_size=2),
    lines=order_lines(),
    description=st.one_of(st.none(), st.sampled_from(("", "' or 1=1 --", "🧾" * 300)), st.just("Ж" * 10_000)),
    clashing_invoice=st.booleans(),
)
def test_hostile_records_sync_correctly_or_park_readably(
    tmp_path_factory: Any,
    account: dict[str, Any],
    contacts: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    description: str | None,
    clashing_invoice: bool,
) -> None:
    env = make_fuzz_env(tmp_path_factory.mktemp("fuzz") / "ws")
    try:
        sf = env.pair.salesforce
        [account_id] = sf.insert_records("Account", [account], client="sales-rep")
        account = next(a for a in sf.records("Account") if a["Id"] == account_id)
        contact_ids = sf.insert_records("Contact", [{**c, "AccountId": account_id} for c in contacts])
        order_id = insert_order(env, account_id, lines, description)
        if clashing_invoice and order_id:
            # Another customer's invoice already carries this order number (a duplicate OrderNumber).
            number = next(o for o in sf.records("Order") if o["Id"] == order_id)["OrderNumber"]
            env.pair.acumatica.put("SalesInvoice", {
                "CustomerID": {"value": "C00001"}, "CustomerOrder": {"value": number}, "Hold": {"value": False},
                "Details": [{"InventoryID": {"value": "LUM2X4-8"}, "Qty": {"value": 1}}],
            })  # fmt: skip

        report = asyncio.run(env.sync())
        assert report.ok, [(r.flow, r.error) for r in report.results]

        customer_id = check_account(env, account)
        for contact in sf.records("Contact"):
            if contact["Id"] in contact_ids:
                check_contact(env, contact, customer_id)
        if order_id:
            check_order(env, order_id, lines, customer_id)
        again = asyncio.run(env.sync())
        assert again.ok and all(r.counts.get("created", 0) == 0 for r in again.results)
    finally:
        env.ws.close()


def test_a_cut_order_description_is_recorded_in_the_ledger(tmp_path: Path) -> None:
    """Regression (found by the fuzz): the orders flow cut long texts without saying so in the ledger."""
    env = make_fuzz_env(tmp_path / "ws")
    try:
        [account_id] = env.pair.salesforce.insert_records("Account", [{"Name": "Long Notes Ltd"}])
        line = {"item": "LUM2X4-8", "Quantity": 2.0, "UnitPrice": 4.98, "Description": "Ж" * 255}
        order_id = insert_order(env, account_id, [line], "Ж" * 10_000)
        assert order_id is not None
        assert asyncio.run(env.sync()).ok
        account = next(a for a in env.pair.salesforce.records("Account") if a["Id"] == account_id)
        check_order(env, order_id, [line], check_account(env, account))
        messages = [e["message"] for e in env.ws.store.history(env.ws.connection_id, order_id)]
        assert any("Description cut from 10000 to 256 characters" in str(m) for m in messages), messages
    finally:
        env.ws.close()
