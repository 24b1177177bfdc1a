"""sObject rows, describe, upsert by external id, validation, collections, system fields (§4, §5)."""

from __future__ import annotations

import pytest
from sf_sandbox_helpers import Api, V

from ml_connector.sandbox.salesforce import SalesforceSandbox
from ml_connector.sandbox.salesforce._ids import is_valid_id

EXT = "/sobjects/Account/Acumatica_Customer_ID__c"


async def test_create_get_update_delete_roundtrip(sandbox: SalesforceSandbox, api: Api) -> None:
    created = await api.call(
        "POST", "/sobjects/Account/", json={"Name": "Summit Framing", "BillingCity": "Denver"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    record_id = body["id"]
    assert record_id.startswith("001") and len(record_id) == 18 and is_valid_id(record_id)

    got = (
        await api.call("GET", f"/sobjects/Account/{record_id}", params={"fields": "Name,BillingCity"})
    ).json()
    assert got == {
        "attributes": {"type": "Account", "url": f"{V}/sobjects/Account/{record_id}"},
        "Name": "Summit Framing",
        "BillingCity": "Denver",
    }
    patched = await api.call("PATCH", f"/sobjects/Account/{record_id}", json={"BillingCity": "Boulder"})
    assert patched.status_code == 204 and patched.content == b""
    assert sandbox.records("Account")[0]["BillingCity"] == "Boulder"

    assert (await api.call("DELETE", f"/sobjects/Account/{record_id}")).status_code == 204
    gone = await api.call("GET", f"/sobjects/Account/{record_id}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "NOT_FOUND"
    again = await api.call("DELETE", f"/sobjects/Account/{record_id}")
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


async def test_get_with_unknown_field_is_400(sandbox: SalesforceSandbox, api: Api) -> None:
    [record_id] = sandbox.insert_records("Account", [{"Name": "x"}])
    response = await api.call("GET", f"/sobjects/Account/{record_id}", params={"fields": "Name,Nope__c"})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"


async def test_describe_reports_field_properties(api: Api) -> None:
    body = (await api.call("GET", "/sobjects/Account/describe/")).json()
    fields = {f["name"]: f for f in body["fields"]}
    assert body["keyPrefix"] == "001" and body["name"] == "Account"
    ext = fields["Acumatica_Customer_ID__c"]
    assert (ext["externalId"], ext["unique"], ext["idLookup"], ext["custom"], ext["type"]) == (
        True,
        True,
        True,
        True,
        "string",
    )
    assert (fields["Name"]["nillable"], fields["Name"]["length"], fields["Name"]["createable"]) == (
        False,
        255,
        True,
    )
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["SystemModstamp"]["updateable"] is False
    assert fields["Acumatica_Credit_Limit__c"]["type"] == "currency"
    order = {f["name"]: f for f in (await api.call("GET", "/sobjects/Order/describe")).json()["fields"]}
    assert order["OrderNumber"]["autoNumber"] is True and order["TotalAmount"]["calculated"] is True
    assert order["Status"]["restrictedPicklist"] is True
    item = (await api.call("GET", "/sobjects/OrderItem/describe")).json()
    assert item["keyPrefix"] == "802"
    product = {f["name"]: f for f in (await api.call("GET", "/sobjects/Product2/describe")).json()["fields"]}
    assert (
        product["ERP_Item_No__c"]["externalId"] is True and product["StockKeepingUnit"]["idLookup"] is False
    )
    order_children = (await api.call("GET", "/sobjects/Order/describe")).json()["childRelationships"]
    assert {
        "childSObject": "OrderItem",
        "field": "OrderId",
        "relationshipName": "OrderItems",
    }.items() <= order_children[0].items()


async def test_upsert_by_external_id_creates_then_updates(sandbox: SalesforceSandbox, api: Api) -> None:
    first = await api.call("PATCH", f"{EXT}/C-100", json={"Name": "Keystone Homes"})
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": True}
    second = await api.call("PATCH", f"{EXT}/C-100", json={"Name": "Keystone Homes LLC"})
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    [stored] = sandbox.records("Account")
    assert (stored["Name"], stored["Acumatica_Customer_ID__c"]) == ("Keystone Homes LLC", "C-100")
    got = (await api.call("GET", f"{EXT}/C-100")).json()
    assert got["Id"] == first.json()["id"]


async def test_upsert_url_encoded_value(sandbox: SalesforceSandbox, api: Api) -> None:
    response = await api.call("PATCH", f"{EXT}/A%2FB%20C", json={"Name": "slash"})
    assert response.status_code == 201
    assert sandbox.records("Account")[0]["Acumatica_Customer_ID__c"] == "A/B C"


async def test_upsert_outcomes_300_404_400(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.insert_records("Account", [{"Name": "one", "AccountNumber": "N1"}, {"Name": "two"}])
    not_external = await api.call("PATCH", "/sobjects/Account/AccountNumber/N1", json={"Name": "x"})
    assert not_external.status_code == 404 and not_external.json()[0]["errorCode"] == "NOT_FOUND"
    with_key_in_body = await api.call(
        "PATCH", f"{EXT}/C-1", json={"Name": "x", "Acumatica_Customer_ID__c": "C-1"}
    )
    assert with_key_in_body.status_code == 400
    with_id = await api.call(
        "PATCH", f"{EXT}/C-1", json={"Name": "x", "Id": sandbox.records("Account")[0]["Id"]}
    )
    assert with_id.status_code == 400
    update_only = await api.call("PATCH", f"{EXT}/C-404?updateOnly=true", json={"Name": "x"})
    assert update_only.status_code == 404
    assert len(sandbox.records("Account")) == 2


async def test_upsert_matching_several_records_is_300_and_changes_nothing(
    sandbox: SalesforceSandbox, api: Api
) -> None:
    # Product2.Name is an idLookup (not unique) field of a standard object, so it can key an upsert
    # and can match several records (§4.2 "Several matches").
    first, second = sandbox.insert_records("Product2", [{"Name": "Stud"}, {"Name": "stud"}])
    response = await api.call("PATCH", "/sobjects/Product2/Name/Stud", json={"Family": "Lumber"})
    assert response.status_code == 300
    assert sorted(response.json()) == sorted(f"{V}/sobjects/Product2/{i}" for i in (first, second))
    assert [p["Family"] for p in sandbox.records("Product2")] == [None, None]
    lookup = await api.call("GET", "/sobjects/Product2/Name/Stud")
    assert lookup.status_code == 300


async def test_relationship_by_external_id(sandbox: SalesforceSandbox, api: Api) -> None:
    await api.call("PATCH", f"{EXT}/C-7", json={"Name": "Parent"})
    created = await api.call(
        "POST",
        "/sobjects/Contact",
        json={"LastName": "Child", "Account": {"Acumatica_Customer_ID__c": "C-7"}},
    )
    assert created.status_code == 201
    assert sandbox.records("Contact")[0]["AccountId"] == sandbox.records("Account")[0]["Id"]
    missing = await api.call(
        "POST", "/sobjects/Contact", json={"LastName": "x", "Account": {"Acumatica_Customer_ID__c": "nope"}}
    )
    assert (
        missing.status_code == 400
        and "Foreign key external ID: nope not found" in missing.json()[0]["message"]
    )


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"BillingCity": "x"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ({"Name": "x", "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
        (
            {"Name": "x", "SystemModstamp": "2024-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["SystemModstamp"],
        ),
        ({"Name": "x", "Acumatica_Credit_Limit__c": "lots"}, "JSON_PARSER_ERROR", []),
        ({"Name": "x", "OwnerId": "not-an-id"}, "MALFORMED_ID", ["OwnerId"]),
    ],
)
async def test_validation_errors(
    sandbox: SalesforceSandbox, api: Api, body: dict, code: str, fields: list[str]
) -> None:
    response = await api.call("POST", "/sobjects/Account", json=body)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code and error["fields"] == fields
    assert sandbox.records("Account") == []


async def test_restricted_picklist_and_duplicate_unique_value(sandbox: SalesforceSandbox, api: Api) -> None:
    [account] = sandbox.insert_records("Account", [{"Name": "a", "Acumatica_Customer_ID__c": "C-1"}])
    bad_status = await api.call(
        "POST",
        "/sobjects/Order",
        json={"AccountId": account, "Status": "Shipped", "EffectiveDate": "2024-01-01"},
    )
    assert bad_status.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    duplicate = await api.call(
        "POST", "/sobjects/Account", json={"Name": "b", "Acumatica_Customer_ID__c": "c-1"}
    )
    assert duplicate.status_code == 400 and duplicate.json()[0]["errorCode"] == "DUPLICATE_VALUE"


async def test_system_fields_and_change_log_for_a_collection(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.control.clock.advance(10)
    response = await api.call(
        "PATCH",
        "/composite/sobjects/Account/Acumatica_Customer_ID__c",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Acumatica_Customer_ID__c": f"C-{n}", "Name": f"acct {n}"}
                for n in range(3)
            ],
        },
        headers={"Sforce-Call-Options": "client=ml-connector; defaultNamespace=x"},
    )
    assert response.status_code == 200
    assert [r["created"] for r in response.json()] == [True, True, True]
    rows = sandbox.records("Account")
    stamps = {r["SystemModstamp"] for r in rows}
    assert len(stamps) == 1 and rows[0]["SystemModstamp"].microsecond == 0
    assert {r["LastModifiedById"] for r in rows} == {sandbox.user_id}
    [change] = sandbox.changes
    assert change.entity == "Account" and change.change_type == "CREATE"
    assert set(change.record_ids) == {r["Id"] for r in rows}
    assert change.client == "ml-connector" and change.commit_user == sandbox.user_id
    assert change.commit_timestamp == rows[0]["SystemModstamp"]
    assert change.values[rows[0]["Id"]]["Name"] == "acct 0"

    await api.call("PATCH", f"/sobjects/Account/{rows[0]['Id']}", json={"BillingCity": None, "Phone": "1"})
    await api.call("PATCH", f"/sobjects/Account/{rows[0]['Id']}", json={"Phone": None})
    update, nulled = sandbox.changes[-2:]
    assert update.change_type == "UPDATE" and update.client is None
    assert update.changed_fields == ("Phone", "LastModifiedDate")  # BillingCity was already null
    assert nulled.nulled_fields == ("Phone",)
    assert update.commit_number < nulled.commit_number


async def test_change_listener_sees_commits(sandbox: SalesforceSandbox, api: Api) -> None:
    seen = []
    sandbox.add_change_listener(seen.append)
    [record_id] = sandbox.insert_records("Account", [{"Name": "a"}])
    await api.call("DELETE", f"/sobjects/Account/{record_id}")
    assert [(c.change_type, c.record_ids) for c in seen] == [
        ("CREATE", (record_id,)),
        ("DELETE", (record_id,)),
    ]


async def test_collection_results_use_status_code_and_partial_success(
    sandbox: SalesforceSandbox, api: Api
) -> None:
    response = await api.call(
        "POST",
        "/composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "ok"},
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    ok, bad = response.json()
    assert ok["success"] is True and ok["id"].startswith("001")
    assert bad == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }
    assert [r["Name"] for r in sandbox.records("Account")] == ["ok"]


async def test_all_or_none_rolls_everything_back(sandbox: SalesforceSandbox, api: Api) -> None:
    [existing] = sandbox.insert_records("Account", [{"Name": "before"}])
    response = await api.call(
        "PATCH",
        "/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Id": existing, "Name": "after"},
                {"attributes": {"type": "Account"}, "Id": existing, "Name": "y" * 300},
            ],
        },
    )
    first, second = response.json()
    assert (
        first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK" and first["success"] is False
    )
    assert second["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert sandbox.records("Account")[0]["Name"] == "before"
    assert sandbox.changes[-1].change_type == "CREATE"  # nothing from the rolled-back request


async def test_collections_refuse_more_than_200_records(api: Api) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": str(n)} for n in range(201)]
    response = await api.call("POST", "/composite/sobjects", json={"allOrNone": False, "records": records})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


async def test_collection_update_needs_id_and_delete_by_ids(sandbox: SalesforceSandbox, api: Api) -> None:
    a, b = sandbox.insert_records("Account", [{"Name": "a"}, {"Name": "b"}])
    no_id = await api.call(
        "PATCH", "/composite/sobjects", json={"records": [{"attributes": {"type": "Account"}, "Name": "z"}]}
    )
    assert no_id.json()[0]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    deleted = await api.call("DELETE", "/composite/sobjects", params={"ids": f"{a},{b}"})
    assert [r["success"] for r in deleted.json()] == [True, True]
    assert sandbox.records("Account") == []


async def test_patch_on_object_root_is_method_not_allowed(api: Api) -> None:
    response = await api.call("PATCH", "/sobjects/Account", json={"Name": "x"})
    assert response.status_code == 405
    assert response.json()[0] == {
        "message": "HTTP Method 'PATCH' not allowed. Allowed are HEAD,GET,POST",
        "errorCode": "METHOD_NOT_ALLOWED",
        "fields": [],
    }


async def test_non_object_or_broken_json_body_is_json_parser_error(
    sandbox: SalesforceSandbox, api: Api
) -> None:
    [record_id] = sandbox.insert_records("Account", [{"Name": "a"}])
    for method, path in (("POST", "/sobjects/Account"), ("PATCH", f"/sobjects/Account/{record_id}")):
        listed = await api.call(method, path, json=["Name"])
        broken = await api.call(
            method, path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert listed.status_code == broken.status_code == 400
        assert listed.json()[0]["errorCode"] == broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert [r["Name"] for r in sandbox.records("Account")] == ["a"]
