"""Endpoint list, version gates and the record shapes of the reference's §10 examples."""

from __future__ import annotations

from typing import Any

BASE = "/AcumaticaERP/entity/Default/24.200.001"

# Key sets of the §10 examples (a representative subset of the real ~60 fields each).
CUSTOMER_10_1 = {
    "id", "rowNumber", "note", "AccountRef", "ApplyOverdueCharges", "AutoApplyPayments", "BAccountID",
    "BillingAddressOverride", "BillingContactOverride", "CreatedDateTime", "CreditLimit", "CreditVerificationRules",
    "CurrencyID", "CurrencyRateType", "CustomerCategory", "CustomerClass", "CustomerID", "CustomerName", "Email",
    "EnableCurrencyOverride", "EnableRateOverride", "EnableWriteOffs", "LastModifiedDateTime", "LocationName",
    "MainContact", "NoteID", "ParentRecord", "PriceClassID", "PrimaryContactID", "RestrictVisibilityTo",
    "StatementCycleID", "StatementType", "Status", "TaxZone", "Terms", "WriteOffLimit", "custom", "_links",
}  # fmt: skip
CREDIT_RULES_10_1 = {
    "id", "rowNumber", "note", "CreditDaysPastDue", "CreditLimit", "CreditVerification", "FirstDueDate",
    "OpenOrdersBalance", "RemainingCreditLimit", "UnreleasedBalance", "custom",
}  # fmt: skip
MAIN_CONTACT_10_1 = {
    "id",
    "rowNumber",
    "note",
    "Address",
    "DisplayName",
    "Email",
    "Phone1",
    "Phone1Type",
    "custom",
}
ADDRESS_10_1 = {
    "id",
    "rowNumber",
    "note",
    "AddressLine1",
    "AddressLine2",
    "City",
    "Country",
    "PostalCode",
    "State",
    "custom",
}
CONTACT_10_2 = {
    "id", "rowNumber", "note", "Active", "Address", "AddressValidated", "Attention", "BusinessAccount", "CompanyName",
    "ContactClass", "ContactID", "ContactMethod", "DisplayName", "DoNotCall", "DoNotEmail", "DoNotFax", "DoNotMail",
    "Email", "ExtRefNbr", "Fax", "FirstName", "FullName", "JobTitle", "LastModifiedDateTime", "LastName", "MiddleName",
    "NoteID", "OverrideAccountAddress", "Phone1", "Phone1Type", "Phone2", "Phone2Type", "Status", "Title", "Type",
    "WebSite", "custom", "_links",
}  # fmt: skip
STOCK_ITEM_10_3 = {
    "id", "rowNumber", "note", "ABCCode", "AutoIncrementalValue", "Availability", "AverageCost", "BaseUOM",
    "COGSAccount", "COGSSubaccount", "CountryOfOrigin", "CurrentStdCost", "DefaultIssueLocationID", "DefaultPrice",
    "DefaultReceiptLocationID", "DefaultWarehouseID", "Description", "DimensionVolume", "DimensionWeight", "ImageUrl",
    "InventoryID", "IsAKit", "ItemClass", "ItemStatus", "ItemType", "LastCost", "LastModified", "LastModifiedDateTime",
    "LotSerialClass", "MSRP", "NoteID", "PostingClass", "PriceClass", "PurchaseUOM", "SalesUOM", "TaxCategory",
    "ValuationMethod", "WeightUOM", "custom", "_links",
}  # fmt: skip
INVOICE_10_4 = {
    "id", "rowNumber", "note", "Amount", "Balance", "BillToAddressOverride", "BillToContactOverride", "CashDiscount",
    "CreatedDate", "CreditHold", "Currency", "CustomerID", "CustomerOrder", "Date", "Description", "Details",
    "DetailTotal", "DiscountTotal", "DueDate", "ExternalRef", "FreightPrice", "Hold", "IsTaxValid", "LastModifiedDate",
    "LastModifiedDateTime", "PaymentTotal", "Project", "ReferenceNbr", "Status", "TaxCalcMode", "TaxTotal", "Type",
    "VATExemptTotal", "VATTaxableTotal", "custom", "_links",
}  # fmt: skip
INVOICE_LINE_10_4 = {
    "id", "rowNumber", "note", "Account", "Amount", "BranchID", "CalculateDiscountsOnImport", "CostCode",
    "Description", "DiscountAmount", "DiscountPercent", "ExpirationDate", "ExternalRef", "InventoryDocType",
    "InventoryID", "InventoryRefNbr", "LineNbr", "Location", "LotSerialNbr", "ManualDiscount", "ManualPrice", "NoteID",
    "OrderLineNbr", "OrderNbr", "OrderType", "OrigInvLineNbr", "OrigInvNbr", "OrigInvType", "ProjectTask", "Qty",
    "ShipmentNbr", "SubAccount", "Subitem", "TaxCategory", "TransactionDescr", "UnitPrice", "UOM", "WarehouseID",
    "custom", "_links",
}  # fmt: skip
SYSTEM = {"id", "rowNumber", "note", "custom", "_links", "error"}


def assert_wrapped(record: dict[str, Any], *, linked: bool = False) -> None:
    """Every contract field is {} or {"value": …}; links are objects, details arrays of rows."""
    assert isinstance(record["id"], str) and isinstance(record["rowNumber"], int)
    if linked:
        assert record["note"] is None
    else:
        assert record["note"] == {"value": record["note"]["value"]}
    for name, value in record.items():
        if name in SYSTEM:
            continue
        if isinstance(value, list):
            for row in value:
                assert_wrapped(row)
        elif "id" in value:
            assert_wrapped(value, linked=True)
        else:
            assert set(value) <= {"value"}, (name, value)


async def test_entity_list_offers_default_versions_with_instance_path_hrefs(http):
    body = (await http.get("/AcumaticaERP/entity")).json()
    assert set(body["version"]) == {"acumaticaBuildVersion", "databaseVersion"}
    versions = [(e["name"], e["version"]) for e in body["endpoints"]]
    assert versions == [
        ("Default", v) for v in ("20.200.001", "22.200.001", "23.200.001", "24.200.001", "25.200.001")
    ]
    assert body["endpoints"][3]["href"] == "/AcumaticaERP/entity/Default/24.200.001/"


async def test_unknown_endpoint_version_or_name_is_404(http, auth):
    for path in (
        "/AcumaticaERP/entity/Default/21.200.001/Customer",
        "/AcumaticaERP/entity/Sales/24.200.001/Customer",
    ):
        response = await http.get(path, headers=auth)
        assert response.status_code == 404
        assert "message" in response.json()


async def test_customer_shape_matches_reference_example_10_1(http, auth):
    response = await http.get(
        f"{BASE}/Customer/C00001",
        params={"$expand": "MainContact,MainContact/Address,CreditVerificationRules"},
        headers=auth,
    )
    body = response.json()
    assert set(body) >= CUSTOMER_10_1
    assert set(body["CreditVerificationRules"]) >= CREDIT_RULES_10_1
    assert set(body["MainContact"]) >= MAIN_CONTACT_10_1
    assert set(body["MainContact"]["Address"]) >= ADDRESS_10_1
    assert_wrapped(body)
    assert body["AccountRef"] == {}  # null is an empty wrapper
    assert body["NoteID"] == {"value": body["id"]}
    assert body["_links"]["self"] == f"{BASE}/Customer/{body['id']}"
    assert body["_links"]["files:put"].startswith(
        f"{BASE}/files/PX.Objects.AR.CustomerMaint/BAccount/{body['id']}/"
    )
    assert body["LastModifiedDateTime"]["value"].endswith("+00:00")


async def test_linked_and_detail_entities_appear_only_with_expand(http, auth):
    body = (await http.get(f"{BASE}/Customer/C00001", headers=auth)).json()
    assert not {"MainContact", "CreditVerificationRules", "Contacts"} & set(body)
    invoice = (await http.get(f"{BASE}/SalesInvoice", headers=auth)).json()[0]
    assert "Details" not in invoice


async def test_contact_and_stock_item_shapes_match_examples_10_2_and_10_3(http, auth):
    contact = (
        await http.get(f"{BASE}/Contact", params={"$expand": "Address", "$top": "1"}, headers=auth)
    ).json()[0]
    assert set(contact) >= CONTACT_10_2
    assert isinstance(contact["ContactID"]["value"], int)
    assert_wrapped(contact)
    item = (await http.get(f"{BASE}/StockItem/LUM2X4-8", headers=auth)).json()
    assert set(item) >= STOCK_ITEM_10_3
    assert item["LastModified"] == item["LastModifiedDateTime"]
    assert item["_links"]["files:put"].startswith(f"{BASE}/files/PX.Objects.IN.InventoryItemMaint/Item/")
    assert_wrapped(item)


async def test_sales_invoice_put_response_matches_example_10_4(http, auth):
    request = {
        "Type": {"value": "Invoice"},
        "CustomerID": {"value": "C00001"},
        "Date": {"value": "2024-07-01T00:00:00"},
        "CustomerOrder": {"value": "CRM-10045"},
        "Description": {"value": "CRM order 10045"},
        "Hold": {"value": False},
        "Details": [
            {
                "InventoryID": {"value": "LUM2X6-12"},
                "WarehouseID": {"value": "WHOLESALE"},
                "Qty": {"value": 10},
                "UOM": {"value": "EA"},
                "UnitPrice": {"value": 50.0},
                "TransactionDescr": {"value": "Lumber"},
            }
        ],
    }
    response = await http.put(
        f"{BASE}/SalesInvoice", params={"$expand": "Details"}, json=request, headers=auth
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) >= INVOICE_10_4
    assert set(body["Details"][0]) >= INVOICE_LINE_10_4
    assert_wrapped(body)
    assert body["Status"] == {"value": "Balanced"}
    assert body["Date"] == {"value": "2024-07-01T00:00:00+00:00"}
    assert body["ReferenceNbr"]["value"].startswith("INV")
    assert body["Amount"] == {"value": 500.0} and body["DetailTotal"] == {"value": 500.0}
    line = body["Details"][0]
    assert line["Description"] == {"value": "Sales"}  # the sales account, not the line text
    assert set(line["_links"]) == {"files:put"}
    assert "/files/PX.Objects.SO.SOInvoiceEntry/Transactions/" in line["_links"]["files:put"]


async def test_version_gated_fields_follow_section_1_4(http, auth):
    v23 = "/AcumaticaERP/entity/Default/23.200.001"
    v20 = "/AcumaticaERP/entity/Default/20.200.001"
    item23 = (await http.get(f"{v23}/StockItem/LUM2X4-8", headers=auth)).json()
    assert "LastModified" in item23 and "LastModifiedDateTime" not in item23
    invoice23 = (await http.get(f"{v23}/SalesInvoice", headers=auth)).json()[0]
    assert "LastModifiedDateTime" in invoice23 and "ExternalRef" not in invoice23
    invoice20 = (await http.get(f"{v20}/SalesInvoice", headers=auth)).json()[0]
    assert "LastModifiedDateTime" not in invoice20
    contact23 = (await http.get(f"{v23}/Contact", headers=auth)).json()[0]
    assert "ExtRefNbr" not in contact23
    selected = await http.get(f"{v23}/StockItem", params={"$select": "LastModifiedDateTime"}, headers=auth)
    assert selected.status_code == 500
    assert selected.json()["exceptionType"] == "System.Collections.Generic.KeyNotFoundException"


async def test_unwrapped_value_is_refused_with_400_model_state(http, auth):
    response = await http.put(
        f"{BASE}/Customer", json={"CustomerID": "C00001", "CustomerName": {"value": "x"}}, headers=auth
    )
    assert response.status_code == 400
    assert "entity.CustomerID" in response.json()["modelState"]
    assert (await http.get(f"{BASE}/Customer/C00001", headers=auth)).json()["CustomerName"]["value"] != "x"


async def test_get_by_key_by_pipe_keys_and_by_id(http, auth):
    invoice = (await http.get(f"{BASE}/SalesInvoice", headers=auth)).json()[0]
    ref = invoice["ReferenceNbr"]["value"]
    by_keys = (await http.get(f"{BASE}/SalesInvoice/Invoice/{ref}", headers=auth)).json()
    by_pipe = (await http.get(f"{BASE}/SalesInvoice/Invoice|{ref}", headers=auth)).json()
    by_id = (await http.get(f"{BASE}/SalesInvoice/{invoice['id']}", headers=auth)).json()
    assert by_keys["id"] == by_pipe["id"] == by_id["id"] == invoice["id"]


async def test_missing_key_is_500_no_entity_satisfies_the_condition(http, auth):
    response = await http.get(f"{BASE}/Customer/NOSUCH", headers=auth)
    assert response.status_code == 500
    assert response.json()["exceptionType"] == "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException"
    assert response.json()["exceptionMessage"] == "No entity satisfies the condition."


async def test_unknown_select_field_is_500_key_not_found(http, auth):
    response = await http.get(f"{BASE}/Customer", params={"$select": "CustomerID,Nonsense"}, headers=auth)
    assert response.status_code == 500
    assert response.json()["exceptionType"] == "System.Collections.Generic.KeyNotFoundException"


async def test_select_returns_only_named_fields_plus_system_fields(http, auth):
    rows = (
        await http.get(f"{BASE}/Customer", params={"$select": "CustomerID,CustomerName"}, headers=auth)
    ).json()
    assert rows and all(
        set(r) == {"id", "rowNumber", "note", "CustomerID", "CustomerName", "custom", "_links"} for r in rows
    )


async def test_instance_path_is_configurable_and_echoed_in_links():
    import httpx2

    from ml_connector.sandbox._control import SandboxTransport
    from ml_connector.sandbox.acumatica import AcumaticaSandbox

    sb = AcumaticaSandbox(instance_path="/demo/test")
    sb.seed()
    c = sb.credentials
    async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as http:
        form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
                "username": c.username, "password": c.password, "scope": "api"}  # fmt: skip
        token = (await http.post("/demo/test/identity/connect/token", data=form)).json()["access_token"]
        item = (
            await http.get(
                "/demo/test/entity/Default/25.200.001/StockItem/LUM2X4-8",
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
        assert item["_links"]["self"].startswith("/demo/test/entity/Default/25.200.001/StockItem/")
        assert (await http.get("/AcumaticaERP/entity")).status_code == 404


async def test_custom_customer_balance_is_returned_on_request(http, auth):
    body = (
        await http.get(f"{BASE}/Customer/C00001", params={"$custom": "CustomerBalance.Balance"}, headers=auth)
    ).json()
    cell = body["custom"]["CustomerBalance"]["Balance"]
    assert cell["type"] == "CustomDecimalField"
    assert cell["value"] > 0  # the seeded released invoice
    unknown = await http.get(f"{BASE}/Customer/C00001", params={"$custom": "Nope.Field"}, headers=auth)
    assert unknown.status_code == 500


async def test_field_missing_in_the_endpoint_version_is_ignored_on_write(http, auth):
    v23 = "/AcumaticaERP/entity/Default/23.200.001"
    body = {
        "BusinessAccount": {"value": "C00001"},
        "LastName": {"value": "Old"},
        "ExtRefNbr": {"value": "SF-1"},
    }
    created = (await http.put(f"{v23}/Contact", json=body, headers=auth)).json()
    assert "ExtRefNbr" not in created
    read = (await http.get(f"{BASE}/Contact/{created['ContactID']['value']}", headers=auth)).json()
    assert read["ExtRefNbr"] == {}  # not stored: 23.200.001 has no ExtRefNbr (§1.4)


async def test_detail_fields_can_be_selected_with_expand(http, auth):
    rows = (
        await http.get(
            f"{BASE}/SalesInvoice",
            params={"$expand": "Details", "$select": "ReferenceNbr,Details/InventoryID,Details/Qty"},
            headers=auth,
        )
    ).json()
    assert set(rows[0]) == {"id", "rowNumber", "note", "ReferenceNbr", "Details", "custom", "_links"}
    assert set(rows[0]["Details"][0]) == {"id", "rowNumber", "note", "InventoryID", "Qty", "custom", "_links"}
