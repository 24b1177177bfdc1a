"""The four flows end to end against both sandboxes (issue: flows, ledger, commands)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx2
import pytest
from sync_env import Env, make_env

from ml_connector.admin import open_workspace, set_credentials
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox._serve import SeedSize
from ml_connector.store import LinkStatus
from ml_connector.sync import Transports, run_sync


async def test_first_sync_invoices_every_activated_order_once_or_parks_it_readably(env: Env) -> None:
    report = await env.sync()
    assert report.ok, report.results
    ws, cid = env.ws, env.ws.connection_id
    products = {p["Id"]: p for p in env.sf("Product2")}
    for order in env.activated_orders():
        invoices = env.invoices_for(order["OrderNumber"])
        link = ws.store.get_link(cid, "orders", order["Id"])
        assert link is not None
        if link.status is LinkStatus.PARKED:
            assert invoices == []
            assert "InventoryID" in (link.last_error or "") and "stock item" in (link.hint or "")
            continue
        assert link.status is LinkStatus.SYNCED and len(invoices) == 1
        invoice = invoices[0]
        account = next(a for a in env.sf("Account") if a["Id"] == order["AccountId"])
        assert invoice["CustomerID"] == account["Acumatica_Customer_ID__c"]
        assert invoice["ExternalRef"] == order["Id"] and invoice["Hold"] is False
        items = sorted((i for i in env.sf("OrderItem") if i["OrderId"] == order["Id"]), key=lambda i: i["Id"])
        lines = invoice["Details"]
        assert [(products[i["Product2Id"]]["ERP_Item_No__c"], Decimal(str(i["Quantity"])), Decimal(str(i["UnitPrice"])))
                for i in items] == [(d["InventoryID"], d["Qty"], d["UnitPrice"]) for d in lines]  # fmt: skip
        assert Decimal(str(order["TotalAmount"])) == invoice["Amount"]
        assert order["Acumatica_Invoice_Nbr__c"] == invoice["ReferenceNbr"] == link.target_key
    parked = ws.store.links_by_status(cid, LinkStatus.PARKED, "orders")
    assert parked, "the seed has orders with items Acumatica lacks or does not sell"
    for account in env.sf("Account"):
        assert account["Acumatica_Customer_ID__c"], account
        assert account["Acumatica_Status__c"] == "Active" and account["Acumatica_Synced_At__c"]
        customer = next(
            c for c in env.acu("Customer") if c["CustomerID"] == account["Acumatica_Customer_ID__c"]
        )
        assert customer["AccountRef"] == account["Id"] and customer["CustomerName"] == account["Name"]
    contacts = env.acu("Contact")
    for contact in env.sf("Contact"):
        matches = [c for c in contacts if c.get("ExtRefNbr") == contact["Id"]]
        assert len(matches) == 1 and matches[0]["LastName"] == contact["LastName"]


async def test_second_sync_writes_nothing_and_every_record_touched_has_a_ledger_entry(env: Env) -> None:
    await env.sync()
    before = env.data_writes()
    report = await env.sync()
    assert env.data_writes() == before
    assert all(r.counts.get("created", 0) == r.counts.get("updated", 0) == 0 for r in report.results)
    cid = env.ws.connection_id
    for flow, records in (("accounts", env.sf("Account")), ("contacts", env.sf("Contact")),
                          ("orders", env.activated_orders())):  # fmt: skip
        links = env.ws.store.get_links(cid, flow, [r["Id"] for r in records])
        assert set(links) == {r["Id"] for r in records}
        for record in records:
            assert env.ws.store.history(cid, record["Id"]), f"no audit event for {flow} {record['Id']}"


def _delete_state(db: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def test_deleting_the_state_database_creates_no_duplicates(env: Env, tmp_path: Path) -> None:
    await env.sync()
    counts = {e: len(env.acu(e)) for e in ("Customer", "Contact", "SalesInvoice")}
    env.ws.close()
    _delete_state(env.ws.config.database_url.removeprefix("sqlite:///"))
    from ml_connector.admin import initialise

    initialise(env.config_path)
    env.ws = open_workspace(env.config_path)
    sf, acu = env.pair.salesforce, env.pair.acumatica.credentials
    from pydantic import SecretStr

    set_credentials(env.ws, "salesforce", {"client_secret": SecretStr(sf.client_secret)})
    set_credentials(
        env.ws,
        "acumatica",
        {"client_secret": SecretStr(acu.client_secret), "password": SecretStr(acu.password)},
    )
    report = await env.sync()
    assert report.ok
    assert {e: len(env.acu(e)) for e in ("Customer", "Contact", "SalesInvoice")} == counts
    recovered = sum(r.counts.get("recovered", 0) for r in report.results)
    assert recovered > 0  # invoices found by CustomerOrder and linked, not created again


async def test_lost_responses_on_invoice_creates_leave_exactly_one_invoice_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No seat limit here: a lost answer to a sign-in holds a licence seat for 10 idle minutes, as in
    # reality; this test is about invoices.
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    env = make_env(tmp_path, SeedSize(seed=11, accounts=6, orders=14, activated_ratio=0.8), seat_limit=None)
    await env.sync("accounts", "contacts")
    env.pair.acumatica.control.set_faults({"lost_response_rate": 0.5, "seed": 3})
    await env.sync("orders")
    env.pair.acumatica.control.set_faults({"lost_response_rate": 0.0})
    await env.sync("orders")  # anything left in doubt is resolved by lookup, never re-created blindly
    assert env.pair.acumatica.control.stats.faults["lost_response"] > 0
    for order in env.activated_orders():
        link = env.ws.store.get_link(env.ws.connection_id, "orders", order["Id"])
        assert link is not None and link.status in (LinkStatus.SYNCED, LinkStatus.PARKED)
        assert len(env.invoices_for(order["OrderNumber"])) == (1 if link.status is LinkStatus.SYNCED else 0)


async def test_parked_order_goes_through_by_itself_once_the_stock_item_exists(env: Env) -> None:
    await env.sync()
    cid = env.ws.connection_id
    parked = env.ws.store.links_by_status(cid, LinkStatus.PARKED, "orders")
    blocked_items = {item for link in parked for item in link.data["blocked_on"].get("items", [])}
    assert {"TILE-PORC-12", "SKY-FIX-2246"} & blocked_items
    before = env.data_writes()
    await env.sync("orders")
    assert env.data_writes() == before  # blockers unchanged: nothing retried, nothing written
    for item in blocked_items:
        env.pair.acumatica.put("StockItem", {
            "InventoryID": {"value": item}, "Description": {"value": item}, "BaseUOM": {"value": "EA"},
            "SalesUOM": {"value": "EA"}, "DefaultPrice": {"value": "10"}, "ItemStatus": {"value": "Active"},
            "ItemClass": {"value": "BUILDING"}, "DefaultWarehouseID": {"value": "WHOLESALE"},
        })  # fmt: skip
    report = await env.sync("orders")
    assert env.ws.store.links_by_status(cid, LinkStatus.PARKED, "orders") == []
    assert report.results[0].counts["retried"] == len(parked)
    for link in parked:
        order = next(o for o in env.sf("Order") if o["Id"] == link.source_id)
        assert len(env.invoices_for(order["OrderNumber"])) == 1


async def test_customer_on_credit_hold_parks_new_orders_until_released(env: Env) -> None:
    await env.sync("accounts")
    account = env.sf("Account")[0]
    customer_id = account["Acumatica_Customer_ID__c"]
    env.pair.acumatica.put(
        "Customer", {"CustomerID": {"value": customer_id}, "Status": {"value": "Credit Hold"}}
    )
    await env.sync("orders")
    cid = env.ws.connection_id
    held = [link for link in env.ws.store.links_by_status(cid, LinkStatus.PARKED, "orders")
            if link.data["blocked_on"].get("customer") == customer_id]  # fmt: skip
    orders_of_account = [o for o in env.activated_orders() if o["AccountId"] == account["Id"]]
    assert held and {link.source_id for link in held} <= {o["Id"] for o in orders_of_account}
    assert "off hold" in (held[0].hint or "")
    env.pair.acumatica.put("Customer", {"CustomerID": {"value": customer_id}, "Status": {"value": "Active"}})
    await env.sync("orders")
    for link in held:
        relinked = env.ws.store.get_link(cid, "orders", link.source_id)
        assert (relinked is not None and relinked.status is not LinkStatus.PARKED) or "Inventory" in (
            relinked.last_error or ""
        )


async def test_orders_and_contacts_pull_their_account_through_first(env: Env) -> None:
    report = await env.sync("orders")
    assert report.ok
    assert len([c for c in env.acu("Customer") if c.get("AccountRef")]) > 0
    order = next(o for o in env.activated_orders() if env.invoices_for(o["OrderNumber"]))
    link = env.ws.store.get_link(env.ws.connection_id, "accounts", order["AccountId"])
    assert link is not None and link.status is LinkStatus.SYNCED
    report = await env.sync("contacts")
    assert report.ok and len(env.acu("Contact")) >= len(env.sf("Contact"))


async def test_changed_order_updates_invoice_lines_by_row_id_without_duplicates(env: Env) -> None:
    await env.sync()
    cid = env.ws.connection_id
    link = next(link for link in env.ws.store.links_by_status(cid, LinkStatus.SYNCED, "orders"))
    order = next(o for o in env.sf("Order") if o["Id"] == link.source_id)
    item = sorted((i for i in env.sf("OrderItem") if i["OrderId"] == order["Id"]), key=lambda i: i["Id"])[0]
    async with env.sales_rep() as rep:
        await rep.update("Order", order["Id"], {"Status": "Draft"})
        await rep.update("OrderItem", item["Id"], {"Quantity": item["Quantity"] + 5})
        await rep.update("Order", order["Id"], {"Status": "Activated"})
    lines_before = len(env.invoices_for(order["OrderNumber"])[0]["Details"])
    report = await env.sync("orders")
    assert report.results[0].counts["updated"] == 1
    invoice = env.invoices_for(order["OrderNumber"])
    assert len(invoice) == 1 and len(invoice[0]["Details"]) == lines_before
    assert Decimal(str(item["Quantity"] + 5)) in [d["Qty"] for d in invoice[0]["Details"]]
    assert (
        Decimal(str(next(o for o in env.sf("Order") if o["Id"] == order["Id"])["TotalAmount"]))
        == invoice[0]["Amount"]
    )


async def test_change_after_release_parks_the_order_asking_for_a_credit_memo(env: Env) -> None:
    await env.sync()
    cid = env.ws.connection_id
    link = next(link for link in env.ws.store.links_by_status(cid, LinkStatus.SYNCED, "orders"))
    env.pair.acumatica.release_invoice(str(link.target_key))
    order = next(o for o in env.sf("Order") if o["Id"] == link.source_id)
    item = next(i for i in env.sf("OrderItem") if i["OrderId"] == order["Id"])
    async with env.sales_rep() as rep:
        await rep.update("Order", order["Id"], {"Status": "Draft"})
        await rep.update("OrderItem", item["Id"], {"Quantity": item["Quantity"] + 1})
        await rep.update("Order", order["Id"], {"Status": "Activated"})
    await env.sync("orders")
    parked = env.ws.store.get_link(cid, "orders", order["Id"])
    assert parked is not None and parked.status is LinkStatus.PARKED
    assert "released" in (parked.last_error or "") and "credit memo" in (parked.hint or "")
    assert len(env.invoices_for(order["OrderNumber"])) == 1


async def test_deleted_account_and_contact_are_deactivated_never_deleted(env: Env) -> None:
    await env.sync()
    contact = env.sf("Contact")[0]
    account = next(
        a for a in env.sf("Account") if not any(o["AccountId"] == a["Id"] for o in env.sf("Order"))
    )
    async with env.sales_rep() as rep:
        for other in [c for c in env.sf("Contact") if c["AccountId"] == account["Id"]]:
            await rep._request(
                "DELETE", rep._data(f"sobjects/Contact/{other['Id']}"), what="delete", resend_safe=False
            )
        await rep._request(
            "DELETE", rep._data(f"sobjects/Account/{account['Id']}"), what="delete", resend_safe=False
        )
    await env.sync("accounts", "contacts")
    customer = next(c for c in env.acu("Customer") if c.get("AccountRef") == account["Id"])
    assert customer["Status"] == "Inactive"
    for deleted in [c for c in env.sf("Contact", include_deleted=True) if c["AccountId"] == account["Id"]]:
        acu_contact = next(c for c in env.acu("Contact") if c.get("ExtRefNbr") == deleted["Id"])
        assert acu_contact["Active"] is False
    assert contact["Id"]  # untouched contacts stay


async def test_balance_moves_without_the_customer_changing_and_reaches_the_account(env: Env) -> None:
    await env.sync()
    cid = env.ws.connection_id
    link = next(link for link in env.ws.store.links_by_status(cid, LinkStatus.SYNCED, "orders"))
    invoice = next(i for i in env.acu("SalesInvoice") if i["ReferenceNbr"] == link.target_key)
    customer_before = next(c for c in env.acu("Customer") if c["CustomerID"] == invoice["CustomerID"])
    env.pair.acumatica.release_invoice(invoice["ReferenceNbr"])
    customer_after = next(c for c in env.acu("Customer") if c["CustomerID"] == invoice["CustomerID"])
    assert customer_after["LastModifiedDateTime"] == customer_before["LastModifiedDateTime"]  # the trap
    await env.sync("credit")
    account = next(a for a in env.sf("Account") if a["Acumatica_Customer_ID__c"] == invoice["CustomerID"])
    assert Decimal(str(account["Acumatica_AR_Balance__c"])) == invoice["Amount"]
    env.pair.acumatica.apply_payment(
        invoice["CustomerID"], Decimal("10.00"), {invoice["ReferenceNbr"]: Decimal("10.00")}
    )
    await env.sync("credit")
    account = next(a for a in env.sf("Account") if a["Id"] == account["Id"])
    assert Decimal(str(account["Acumatica_AR_Balance__c"])) == invoice["Amount"] - Decimal("10.00")


async def test_dry_run_plans_writes_with_diffs_and_makes_none(env: Env) -> None:
    report = await env.sync(dry_run=True)
    assert env.data_writes() == 0
    assert env.ws.store.count_links(env.ws.connection_id) == {}
    creates = [w for w in report.plan if w.action == "create" and w.flow == "accounts"]
    assert len(creates) == len(env.sf("Account"))
    assert any(path == "CustomerName" for path in creates[0].diff)


async def test_unknown_country_parks_the_account_and_its_fix_releases_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    env = make_env(tmp_path, SeedSize(seed=5, accounts=2, contacts_per_account=1, orders=0))
    try:
        account = env.sf("Account")[0]
        async with env.sales_rep() as rep:
            await rep.update("Account", account["Id"], {"BillingCountry": "Atlantis"})
        await env.sync("accounts")
        link = env.ws.store.get_link(env.ws.connection_id, "accounts", account["Id"])
        assert link is not None and link.status is LinkStatus.PARKED and "Atlantis" in (link.last_error or "")
        async with env.sales_rep() as rep:
            await rep.update("Account", account["Id"], {"BillingCountry": "Canada"})
        await env.sync("accounts")
        link = env.ws.store.get_link(env.ws.connection_id, "accounts", account["Id"])
        assert link is not None and link.status is LinkStatus.SYNCED
        customer = next(c for c in env.acu("Customer") if c.get("AccountRef") == account["Id"])
        assert customer["MainContact"]["Address"]["Country"] == "CA"
    finally:
        env.ws.close()


async def test_contact_of_a_parked_account_waits_for_it_and_follows_once_it_is_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    env = make_env(tmp_path, SeedSize(seed=5, accounts=2, contacts_per_account=1, orders=0))
    try:
        account = env.sf("Account")[0]
        contact = next(c for c in env.sf("Contact") if c["AccountId"] == account["Id"])
        async with env.sales_rep() as rep:
            await rep.update("Account", account["Id"], {"BillingCountry": "Atlantis"})
        await env.sync("accounts", "contacts")
        waiting = env.ws.store.get_link(env.ws.connection_id, "contacts", contact["Id"])
        assert waiting is not None and waiting.status is LinkStatus.PARKED
        assert waiting.data["blocked_on"] == {"account": account["Id"]}
        before = env.data_writes()
        await env.sync("contacts")
        assert env.data_writes() == before  # the account is still parked: the contact is not retried
        async with env.sales_rep() as rep:
            await rep.update("Account", account["Id"], {"BillingCountry": "Canada"})
        await env.sync("accounts", "contacts")
        done = env.ws.store.get_link(env.ws.connection_id, "contacts", contact["Id"])
        assert done is not None and done.status is LinkStatus.SYNCED
        assert (
            next(c for c in env.acu("Contact") if c.get("ExtRefNbr") == contact["Id"])["BusinessAccount"]
            == (next(a for a in env.sf("Account") if a["Id"] == account["Id"])["Acumatica_Customer_ID__c"])
        )
    finally:
        env.ws.close()


async def test_account_number_of_an_existing_customer_links_it_or_parks_on_a_clash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    env = make_env(tmp_path, SeedSize(seed=5, accounts=2, contacts_per_account=0, orders=0))
    try:
        first, second = env.sf("Account")[:2]
        # A customer entered in Acumatica before the connector, under the first account's number.
        env.pair.acumatica.put("Customer", {"CustomerID": {"value": "HARBOR-01"}, "CustomerName": {"value": "Harbor"},
                                            "CustomerClass": {"value": "DEFAULT"}})  # fmt: skip
        async with env.sales_rep() as rep:
            await rep.update("Account", first["Id"], {"AccountNumber": "HARBOR-01"})
        await env.sync("accounts")
        harbor = [c for c in env.acu("Customer") if c["CustomerID"] == "HARBOR-01"]
        assert len(harbor) == 1 and harbor[0]["AccountRef"] == first["Id"]  # linked, not duplicated
        assert harbor[0]["CustomerName"] == first["Name"]
        async with env.sales_rep() as rep:  # a new account carrying the same number
            newcomer = await rep.create(
                "Account", {"Name": "Harbour Lumber (typo)", "AccountNumber": "HARBOR-01"}
            )
        before = len(env.acu("Customer"))
        await env.sync("accounts")
        clash = env.ws.store.get_link(env.ws.connection_id, "accounts", newcomer)
        assert clash is not None and clash.status is LinkStatus.PARKED
        assert f"already belongs to Salesforce account {first['Id']}" in (clash.last_error or "")
        assert "unique AccountNumber" in (clash.hint or "")
        assert len(env.acu("Customer")) == before
        harbor = next(c for c in env.acu("Customer") if c["CustomerID"] == "HARBOR-01")
        assert harbor["AccountRef"] == first["Id"] and harbor["CustomerName"] == first["Name"]
        assert second["Id"]
    finally:
        env.ws.close()


class _PoisonTransport(httpx2.AsyncBaseTransport):
    """Acumatica answers 500 to every write that carries ``marker``, the way a record that trips an
    internal error does; everything else goes to the sandbox."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, marker: str) -> None:
        self.inner, self.marker, self.refused = inner, marker, 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "PUT" and self.marker.encode() in request.content:
            self.refused += 1
            return httpx2.Response(
                500, json={"message": "An error has occurred.", "exceptionType": "System.Exception"}
            )
        return await self.inner.handle_async_request(request)


async def test_a_record_the_server_always_fails_on_does_not_hold_up_the_others(env: Env) -> None:
    accounts = env.sf("Account")
    poison = accounts[2]
    async with env.sales_rep() as rep:
        await rep.update("Account", poison["Id"], {"Name": "Poison Pill Supply"})
    poisoned = _PoisonTransport(SandboxTransport(env.pair.acumatica.app), "Poison Pill")
    transports = Transports(SandboxTransport(env.pair.salesforce.app), poisoned)
    report = await run_sync(env.ws, ["accounts"], transports=transports)
    assert report.ok and poisoned.refused > 0
    cid = env.ws.connection_id
    for account in accounts:
        link = env.ws.store.get_link(cid, "accounts", account["Id"])
        assert link is not None
        if account["Id"] == poison["Id"]:
            assert link.status in (LinkStatus.IN_DOUBT, LinkStatus.PARKED) and "still failing" in (
                link.last_error or ""
            )
        else:
            assert link.status is LinkStatus.SYNCED  # the page went on past it
    assert env.ws.store.get_cursor(cid, "salesforce:Account") is not None
    report = await env.sync("accounts")  # the server is fine with it now: retried without anyone asking
    link = env.ws.store.get_link(cid, "accounts", poison["Id"])
    assert link is not None and link.status is LinkStatus.SYNCED
    assert len([c for c in env.acu("Customer") if c.get("AccountRef") == poison["Id"]]) == 1
