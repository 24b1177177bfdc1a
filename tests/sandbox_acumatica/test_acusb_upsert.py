"""PUT upsert (§4.1), detail rows (§3.3) and 422 validation of the fake."""

from __future__ import annotations

BASE = "/AcumaticaERP/entity/Default/24.200.001"


def invoice_body(
    customer: str = "C00001", order: str = "CRM-1", item: str = "LUM2X4-8", qty: int = 2
) -> dict:
    return {
        "CustomerID": {"value": customer},
        "CustomerOrder": {"value": order},
        "Hold": {"value": False},
        "Details": [{"InventoryID": {"value": item}, "Qty": {"value": qty}}],
    }


async def test_put_without_auto_numbered_key_creates_a_new_invoice_every_time(http, auth, sandbox):
    before = len(sandbox.records("SalesInvoice"))
    first = (await http.put(f"{BASE}/SalesInvoice", json=invoice_body(), headers=auth)).json()
    second = (await http.put(f"{BASE}/SalesInvoice", json=invoice_body(), headers=auth)).json()
    assert first["ReferenceNbr"] != second["ReferenceNbr"]
    assert len(sandbox.records("SalesInvoice")) == before + 2


async def test_put_with_key_updates_and_with_id_updates_the_same_record(http, auth, sandbox):
    created = (await http.put(f"{BASE}/SalesInvoice", json=invoice_body(), headers=auth)).json()
    keyed = {
        "Type": {"value": "Invoice"},
        "ReferenceNbr": created["ReferenceNbr"],
        "Description": {"value": "by key"},
    }
    assert (await http.put(f"{BASE}/SalesInvoice", json=keyed, headers=auth)).json()["id"] == created["id"]
    by_id = {"id": created["id"], "Description": {"value": "by id"}}
    updated = (await http.put(f"{BASE}/SalesInvoice", json=by_id, headers=auth)).json()
    assert updated["Description"] == {"value": "by id"}
    assert sum(1 for r in sandbox.records("SalesInvoice") if r["id"] == created["id"]) == 1


async def test_put_with_filter_updates_the_matching_customer(http, auth):
    email = (
        await http.get(f"{BASE}/Customer/C00002", params={"$expand": "MainContact"}, headers=auth)
    ).json()["MainContact"]["Email"]["value"]
    response = await http.put(
        f"{BASE}/Customer",
        params={"$filter": f"MainContact/Email eq '{email}'"},
        json={"CustomerName": {"value": "Renamed Ltd"}},
        headers=auth,
    )
    assert response.json()["CustomerID"] == {"value": "C00002"}
    assert response.json()["CustomerName"] == {"value": "Renamed Ltd"}


async def test_if_none_match_and_if_match_give_412(http, auth):
    existing = {"CustomerID": {"value": "C00001"}, "CustomerClass": {"value": "DEFAULT"}}
    insert_only = await http.put(f"{BASE}/Customer", json=existing, headers={**auth, "If-None-Match": "*"})
    assert insert_only.status_code == 412
    missing = {"CustomerID": {"value": "NEWONE"}, "CustomerClass": {"value": "DEFAULT"}}
    update_only = await http.put(f"{BASE}/Customer", json=missing, headers={**auth, "If-Match": "*"})
    assert update_only.status_code == 412
    assert (await http.get(f"{BASE}/Customer/NEWONE", headers=auth)).status_code == 500


async def test_resending_details_without_ids_duplicates_lines_and_delete_removes_one(http, auth):
    created = (
        await http.put(
            f"{BASE}/SalesInvoice", params={"$expand": "Details"}, json=invoice_body(), headers=auth
        )
    ).json()
    keys = {"Type": {"value": "Invoice"}, "ReferenceNbr": created["ReferenceNbr"]}
    resent = {**keys, "Details": invoice_body()["Details"]}
    doubled = (
        await http.put(f"{BASE}/SalesInvoice", params={"$expand": "Details"}, json=resent, headers=auth)
    ).json()
    assert len(doubled["Details"]) == 2
    assert doubled["Amount"]["value"] == 2 * created["Amount"]["value"]
    removal = {**keys, "Details": [{"id": doubled["Details"][1]["id"], "delete": True}]}
    fixed = (
        await http.put(f"{BASE}/SalesInvoice", params={"$expand": "Details"}, json=removal, headers=auth)
    ).json()
    assert [d["id"] for d in fixed["Details"]] == [created["Details"][0]["id"]]


async def test_equal_put_leaves_last_modified_alone_and_a_change_moves_it(http, auth, sandbox):
    before = (await http.get(f"{BASE}/Customer/C00001", headers=auth)).json()
    same = {"CustomerID": {"value": "C00001"}, "CustomerName": before["CustomerName"]}
    again = (await http.put(f"{BASE}/Customer", json=same, headers=auth)).json()
    assert again["LastModifiedDateTime"] == before["LastModifiedDateTime"]
    sandbox.control.clock.advance(5)
    changed = (
        await http.put(f"{BASE}/Customer", json={**same, "Terms": {"value": "15D"}}, headers=auth)
    ).json()
    assert changed["LastModifiedDateTime"] != before["LastModifiedDateTime"]


async def test_new_customer_without_customer_class_is_422_with_field_error(http, auth):
    response = await http.put(
        f"{BASE}/Customer",
        json={"CustomerID": {"value": "NOCLASS"}, "CustomerName": {"value": "N"}},
        headers=auth,
    )
    body = response.json()
    assert response.status_code == 422
    assert body["CustomerClass"]["error"] == "'Customer Class' cannot be empty."
    assert "error" in body


async def test_invoice_for_unknown_customer_is_422_and_shows_new_placeholder(http, auth, sandbox):
    before = len(sandbox.records("SalesInvoice"))
    response = await http.put(f"{BASE}/SalesInvoice", json=invoice_body(customer="GHOST"), headers=auth)
    body = response.json()
    assert response.status_code == 422
    assert body["CustomerID"] == {"value": "GHOST", "error": "'Customer' cannot be found in the system."}
    assert body["ReferenceNbr"] == {"value": "<NEW>"}
    assert len(sandbox.records("SalesInvoice")) == before


async def test_invoice_lines_with_unknown_no_sales_or_inactive_items_are_refused_per_line(
    http, auth, sandbox
):
    sandbox.put("StockItem", {"InventoryID": {"value": "OLD-1"}, "ItemStatus": {"value": "Inactive"}})
    body = invoice_body()
    body["Details"] = [
        {"InventoryID": {"value": "TILE-PORC-12"}, "Qty": {"value": 1}},  # in Salesforce only
        {"InventoryID": {"value": "INS-VERM-4CF"}, "Qty": {"value": 1}},  # No Sales
        {"InventoryID": {"value": "OLD-1"}, "Qty": {"value": 1}},
        {"InventoryID": {"value": "LUM2X4-8"}, "Qty": {"value": 1}},
    ]
    response = await http.put(f"{BASE}/SalesInvoice", params={"$expand": "Details"}, json=body, headers=auth)
    lines = response.json()["Details"]
    assert response.status_code == 422
    assert lines[0]["InventoryID"]["error"] == "'Inventory ID' cannot be found in the system."
    assert "No Sales" in lines[1]["InventoryID"]["error"]
    assert "Inactive" in lines[2]["InventoryID"]["error"]
    assert "error" not in lines[3]["InventoryID"]


async def test_new_invoice_for_customer_on_credit_hold_or_inactive_is_refused(http, auth, sandbox):
    held = next(c for c in sandbox.records("Customer") if c["Status"] == "Credit Hold")
    response = await http.put(
        f"{BASE}/SalesInvoice", json=invoice_body(customer=held["CustomerID"]), headers=auth
    )
    assert response.status_code == 422
    assert "Credit Hold" in response.json()["CustomerID"]["error"]
    await http.put(
        f"{BASE}/Customer",
        json={"CustomerID": {"value": "C00004"}, "Status": {"value": "Inactive"}},
        headers=auth,
    )
    response = await http.put(f"{BASE}/SalesInvoice", json=invoice_body(customer="C00004"), headers=auth)
    assert "Inactive" in response.json()["CustomerID"]["error"]


async def test_contact_id_is_auto_numbered_and_put_without_it_adds_a_contact(http, auth, sandbox):
    body = {
        "BusinessAccount": {"value": "C00001"},
        "LastName": {"value": "Doe"},
        "Email": {"value": "jd@example.com"},
    }
    first = (await http.put(f"{BASE}/Contact", json=body, headers=auth)).json()
    second = (await http.put(f"{BASE}/Contact", json=body, headers=auth)).json()
    assert isinstance(first["ContactID"]["value"], int)
    assert second["ContactID"]["value"] == first["ContactID"]["value"] + 1
    unknown = await http.put(
        f"{BASE}/Contact", json={**body, "BusinessAccount": {"value": "NOPE"}}, headers=auth
    )
    assert unknown.json()["BusinessAccount"]["error"] == "'Business Account' cannot be found in the system."


async def test_credit_limit_written_through_rules_shows_top_level_too(http, auth):
    body = {"CustomerID": {"value": "C00001"}, "CreditVerificationRules": {"CreditLimit": {"value": 1234.5}}}
    response = await http.put(
        f"{BASE}/Customer", params={"$expand": "CreditVerificationRules"}, json=body, headers=auth
    )
    assert response.json()["CreditLimit"] == {"value": 1234.5}
    assert response.json()["CreditVerificationRules"]["CreditLimit"] == {"value": 1234.5}


async def test_delete_by_key_removes_the_record(http, auth):
    assert (await http.delete(f"{BASE}/StockItem/CAULK-SIL-10", headers=auth)).status_code == 204
    assert (await http.get(f"{BASE}/StockItem/CAULK-SIL-10", headers=auth)).status_code == 500
