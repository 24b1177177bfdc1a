"""Order and OrderItem rules of reference §5.3–5.4."""

from __future__ import annotations

import pytest
from sf_sandbox_helpers import Api

from ml_connector.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
def catalog(sandbox: SalesforceSandbox) -> SalesforceSandbox:
    sandbox.seed(accounts=1, contacts_per_account=0, orders=0)
    return sandbox


def entry_for(sandbox: SalesforceSandbox, item_no: str) -> dict:
    product = next(p for p in sandbox.records("Product2") if p["ERP_Item_No__c"] == item_no)
    return next(e for e in sandbox.records("PricebookEntry") if e["Product2Id"] == product["Id"])


async def new_order(api: Api, sandbox: SalesforceSandbox, **extra: object) -> str:
    body = {
        "AccountId": sandbox.records("Account")[0]["Id"],
        "Status": "Draft",
        "EffectiveDate": "2024-06-01",
        "Pricebook2Id": sandbox.org.standard_pricebook_id,
        **extra,
    }
    response = await api.call("POST", "/sobjects/Order", json=body)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


async def add_item(api: Api, order_id: str, entry: dict, quantity: float, price: float | None = None):
    return await api.call(
        "POST",
        "/sobjects/OrderItem",
        json={
            "OrderId": order_id,
            "PricebookEntryId": entry["Id"],
            "Quantity": quantity,
            "UnitPrice": price or entry["UnitPrice"],
        },
    )


async def test_order_is_created_draft_with_auto_number(catalog: SalesforceSandbox, api: Api) -> None:
    first = await new_order(api, catalog)
    second = await new_order(api, catalog)
    orders = {o["Id"]: o for o in catalog.records("Order")}
    assert orders[first]["StatusCode"] == "Draft" and orders[first]["TotalAmount"] == 0.0
    assert int(orders[second]["OrderNumber"]) == int(orders[first]["OrderNumber"]) + 1
    assert len(orders[first]["OrderNumber"]) == 8
    activated = await api.call(
        "POST",
        "/sobjects/Order",
        json={
            "AccountId": catalog.records("Account")[0]["Id"],
            "Status": "Activated",
            "EffectiveDate": "2024-06-01",
        },
    )
    assert activated.status_code == 400 and activated.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


async def test_items_set_list_price_totals_and_product(catalog: SalesforceSandbox, api: Api) -> None:
    order_id = await new_order(api, catalog)
    lumber = entry_for(catalog, "LUM2X4-8")
    cement = entry_for(catalog, "CEM-PORT-94")
    assert (await add_item(api, order_id, lumber, 10)).status_code == 201
    assert (await add_item(api, order_id, cement, 4, price=15.0)).status_code == 201
    items = catalog.records("OrderItem")
    assert {i["Product2Id"] for i in items} == {lumber["Product2Id"], cement["Product2Id"]}
    cement_item = next(i for i in items if i["PricebookEntryId"] == cement["Id"])
    assert cement_item["ListPrice"] == 15.35 and cement_item["TotalPrice"] == 60.0
    order = catalog.records("Order")[0]
    assert order["TotalAmount"] == round(10 * 4.98 + 60.0, 2)


async def test_item_needs_entry_of_the_orders_price_book(catalog: SalesforceSandbox, api: Api) -> None:
    [custom_book] = catalog.insert_records("Pricebook2", [{"Name": "Contractor Prices", "IsActive": True}])
    lumber = entry_for(catalog, "LUM2X4-8")
    [custom_entry] = catalog.insert_records(
        "PricebookEntry",
        [{"Pricebook2Id": custom_book, "Product2Id": lumber["Product2Id"], "UnitPrice": 4.5}],
    )
    order_id = await new_order(api, catalog)
    response = await add_item(api, order_id, {"Id": custom_entry, "UnitPrice": 4.5}, 1)
    assert response.status_code == 400
    assert response.json()[0]["message"] == (
        "Order Products must have a Price Book Entry that belongs to the Price Book related to the parent Order."
    )
    no_book = await new_order(api, catalog, Pricebook2Id=None)
    assert (await add_item(api, no_book, lumber, 1)).json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


async def test_activation_rules(catalog: SalesforceSandbox, api: Api) -> None:
    order_id = await new_order(api, catalog)
    empty = await api.call("PATCH", f"/sobjects/Order/{order_id}", json={"Status": "Activated"})
    assert empty.status_code == 400 and empty.json()[0]["errorCode"] == "FAILED_ACTIVATION"
    await add_item(api, order_id, entry_for(catalog, "LUM2X4-8"), 2)
    mixed = await api.call(
        "PATCH", f"/sobjects/Order/{order_id}", json={"Status": "Activated", "PoNumber": "X"}
    )
    assert mixed.status_code == 400
    catalog.control.clock.advance(60)
    ok = await api.call("PATCH", f"/sobjects/Order/{order_id}", json={"Status": "Activated"})
    assert ok.status_code == 204
    order = catalog.records("Order")[0]
    assert order["StatusCode"] == "Activated" and order["ActivatedDate"] == order["SystemModstamp"]
    assert order["ActivatedById"] == catalog.user_id
    more = await add_item(api, order_id, entry_for(catalog, "CEM-PORT-94"), 1)
    assert more.status_code == 400
    item_id = catalog.records("OrderItem")[0]["Id"]
    assert (await api.call("DELETE", f"/sobjects/OrderItem/{item_id}")).status_code == 400
    assert (await api.call("DELETE", f"/sobjects/Order/{order_id}")).status_code == 400
    account_change = await api.call(
        "PATCH",
        f"/sobjects/Order/{order_id}",
        json={"AccountId": catalog.insert_records("Account", [{"Name": "other"}])[0]},
    )
    assert account_change.status_code == 400
    write_back = await api.call(
        "PATCH",
        f"/sobjects/Order/{order_id}",
        json={"Acumatica_Invoice_Nbr__c": "INV001", "Acumatica_Invoice_Status__c": "Open"},
    )
    assert write_back.status_code == 204


async def test_price_book_cannot_change_once_set(catalog: SalesforceSandbox, api: Api) -> None:
    [custom_book] = catalog.insert_records("Pricebook2", [{"Name": "Other", "IsActive": True}])
    order_id = await new_order(api, catalog)
    response = await api.call("PATCH", f"/sobjects/Order/{order_id}", json={"Pricebook2Id": custom_book})
    assert response.status_code == 400 and response.json()[0]["fields"] == ["Pricebook2Id"]


async def test_draft_order_delete_removes_items(catalog: SalesforceSandbox, api: Api) -> None:
    order_id = await new_order(api, catalog)
    await add_item(api, order_id, entry_for(catalog, "LUM2X4-8"), 2)
    assert (await api.call("DELETE", f"/sobjects/Order/{order_id}")).status_code == 204
    assert catalog.records("Order") == [] and catalog.records("OrderItem") == []
    assert catalog.records("OrderItem", include_deleted=True) == []  # order products skip the recycle bin


async def test_seeded_orders_are_draft_and_activated_with_lines(sandbox: SalesforceSandbox) -> None:
    counts = sandbox.seed(seed=11, accounts=5, contacts_per_account=1, orders=20, activated_ratio=0.5)
    orders = sandbox.records("Order")
    statuses = {o["StatusCode"] for o in orders}
    assert counts["Order"] == 20 and statuses == {"Draft", "Activated"}
    for order in orders:
        lines = [i for i in sandbox.records("OrderItem") if i["OrderId"] == order["Id"]]
        assert len(lines) >= 2
        assert order["TotalAmount"] == round(sum(i["TotalPrice"] for i in lines), 2)


async def test_all_or_none_undoes_items_and_the_order_total(catalog: SalesforceSandbox, api: Api) -> None:
    order_id = await new_order(api, catalog)
    lumber = entry_for(catalog, "LUM2X4-8")
    changes_before = len(catalog.changes)
    response = await api.call(
        "POST",
        "/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {
                    "attributes": {"type": "OrderItem"},
                    "OrderId": order_id,
                    "PricebookEntryId": lumber["Id"],
                    "Quantity": 3,
                    "UnitPrice": 5,
                },
                {"attributes": {"type": "OrderItem"}, "OrderId": order_id, "PricebookEntryId": lumber["Id"]},
            ],
        },
    )
    assert [r["success"] for r in response.json()] == [False, False]
    assert catalog.records("OrderItem") == []
    assert catalog.records("Order")[0]["TotalAmount"] == 0.0
    assert len(catalog.changes) == changes_before
    assert (await add_item(api, order_id, lumber, 1)).status_code == 201
    assert (
        catalog.records("OrderItem")[0]["OrderItemNumber"] == "0000000001"
    )  # the rolled-back number is reused


def test_a_failed_insert_batch_leaves_nothing(sandbox: SalesforceSandbox) -> None:
    from ml_connector.sandbox.salesforce._values import SaveFailed

    with pytest.raises(SaveFailed):
        sandbox.insert_records("Account", [{"Name": "first"}, {"Name": None}])
    assert sandbox.records("Account", include_deleted=True) == [] and sandbox.changes == []
