"""PATCH, $adHocSchema, Customer.Contacts, the /_sandbox/ control surface and seeding."""

from __future__ import annotations

from ml_connector.sandbox.acumatica import AcumaticaSandbox

BASE = "/AcumaticaERP/entity/Default/25.200.001"


async def test_patch_updates_and_touches_but_never_inserts(http, auth, sandbox):
    before = (await http.get(f"{BASE}/Customer/C00001", headers=auth)).json()
    sandbox.control.clock.advance(5)
    same = {"CustomerID": {"value": "C00001"}, "CustomerName": before["CustomerName"]}
    patched = await http.patch(f"{BASE}/Customer", json=same, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["LastModifiedDateTime"] != before["LastModifiedDateTime"]  # set even when equal
    missing = await http.patch(f"{BASE}/Customer", json={"CustomerID": {"value": "NOPE"}}, headers=auth)
    assert missing.status_code == 404
    insert_only = await http.patch(f"{BASE}/Customer", json=same, headers={**auth, "If-None-Match": "*"})
    assert insert_only.status_code == 412


async def test_ad_hoc_schema_lists_fields_and_custom_fields(http, auth):
    body = (await http.get(f"{BASE}/Customer/$adHocSchema", headers=auth)).json()
    assert body["CustomerID"] == {}
    assert body["custom"]["CustomerBalance"]["Balance"] == {"type": "CustomDecimalField"}


async def test_customer_contacts_detail_lists_contacts_linked_by_business_account(http, auth):
    await http.put(
        f"{BASE}/Contact",
        json={"BusinessAccount": {"value": "C00002"}, "LastName": {"value": "Extra"}},
        headers=auth,
    )
    body = (await http.get(f"{BASE}/Customer/C00002", params={"$expand": "Contacts"}, headers=auth)).json()
    assert len(body["Contacts"]) == 2
    assert all(isinstance(row["ContactID"]["value"], int) for row in body["Contacts"])


async def test_control_surface_reset_seed_and_stats(http, auth):
    stats = (await http.get("/_sandbox/stats")).json()
    assert stats["records"] == {"Customer": 5, "Contact": 5, "StockItem": 21, "SalesInvoice": 2, "Payment": 0}
    assert any(key.startswith("POST /AcumaticaERP/identity/connect/token") for key in stats["calls"])
    assert (await http.post("/_sandbox/reset")).json() == {"reset": True}
    assert (await http.get("/_sandbox/stats")).json()["records"]["Customer"] == 0
    assert (await http.get(f"{BASE}/StockItem", headers=auth)).status_code == 401  # everyone signed out
    seeded = (await http.post("/_sandbox/seed", json={"seed": 3, "customers": 8})).json()
    assert seeded["result"]["Customer"] == 8


def test_seed_is_deterministic_and_matches_the_catalogue():
    from ml_connector.sandbox.catalog import CATALOG

    first, second = AcumaticaSandbox(), AcumaticaSandbox()
    first.seed(seed=11)
    second.seed(seed=11)

    def shape(sb: AcumaticaSandbox) -> list[tuple[str, str, str]]:
        return [
            (c["CustomerID"], c["CustomerName"], c["MainContact"]["Address"]["City"])
            for c in sb.records("Customer")
        ]

    assert shape(first) == shape(second)
    items = {i["InventoryID"]: i["ItemStatus"] for i in first.records("StockItem")}
    assert set(items) == {c.item_no for c in CATALOG if c.in_acumatica}
    assert "TILE-PORC-12" not in items and items["INS-VERM-4CF"] == "No Sales"
    assert [c["Status"] for c in first.records("Customer")].count("Credit Hold") == 1


async def test_login_limit_can_answer_500_like_some_tenants_do():
    import httpx2

    from ml_connector.sandbox._control import SandboxTransport

    sb = AcumaticaSandbox(seat_limit=0, login_limit_status=500)
    c = sb.credentials
    async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as http:
        response = await http.post(
            "/AcumaticaERP/entity/auth/login",
            json={"name": c.username, "password": c.password, "tenant": "Company"},
        )
    assert response.status_code == 500
    assert "API Login Limit" in response.text


async def test_contact_display_name_and_full_name_are_computed(http, auth):
    body = {
        "BusinessAccount": {"value": "C00001"},
        "FirstName": {"value": "Jane"},
        "LastName": {"value": "Doe"},
    }
    created = (
        await http.put(f"{BASE}/Contact", json={**body, "DisplayName": {"value": "ignored"}}, headers=auth)
    ).json()
    assert created["DisplayName"] == {"value": "Jane Doe"}  # read-only, computed
    assert created["FullName"] == {"value": "Summit Builders Supply"}


async def test_validate_document_totals_requires_a_matching_amount_to_leave_hold():
    import httpx2

    from ml_connector.sandbox._control import SandboxTransport

    sb = AcumaticaSandbox(validate_document_totals=True)
    sb.seed()
    c = sb.credentials
    form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
            "username": c.username, "password": c.password, "scope": "api"}  # fmt: skip
    async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as http:
        token = (await http.post("/AcumaticaERP/identity/connect/token", data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = {"CustomerID": {"value": "C00001"}, "Hold": {"value": False},
                "Details": [{"InventoryID": {"value": "LUM2X4-8"}, "Qty": {"value": 10}}]}  # fmt: skip
        missing = await http.put(f"{BASE}/SalesInvoice", json=body, headers=auth)
        assert missing.status_code == 422
        assert missing.json()["Amount"]["error"] == "The document is out of balance."
        matching = await http.put(
            f"{BASE}/SalesInvoice", json={**body, "Amount": {"value": 49.8}}, headers=auth
        )
        assert matching.status_code == 200 and matching.json()["Status"] == {"value": "Balanced"}


async def test_writing_without_screen_rights_is_403():
    import httpx2

    from ml_connector.sandbox._control import SandboxTransport

    sb = AcumaticaSandbox(read_only_entities=("SalesInvoice",))
    sb.seed()
    c = sb.credentials
    form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
            "username": c.username, "password": c.password, "scope": "api"}  # fmt: skip
    async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as http:
        token = (await http.post("/AcumaticaERP/identity/connect/token", data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        response = await http.put(
            f"{BASE}/SalesInvoice", json={"CustomerID": {"value": "C00001"}}, headers=auth
        )
        assert response.status_code == 403
        assert "Invoices (SO303000)" in response.json()["message"]
        assert (await http.get(f"{BASE}/SalesInvoice", headers=auth)).status_code == 200
