"""SOQL query and queryAll: grammar, evaluation, serialisation, pagination, errors (reference §3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sf_sandbox_helpers import Api, V

from ml_connector.sandbox.salesforce import SalesforceSandbox

REST_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


@pytest.fixture
def seeded(sandbox: SalesforceSandbox) -> SalesforceSandbox:
    sandbox.seed(seed=3, accounts=6, contacts_per_account=2, orders=8, activated_ratio=0.5)
    return sandbox


def names(records: list[dict]) -> list[str]:
    return [r["Name"] for r in records]


async def test_parent_paths_two_levels_and_child_subquery(seeded: SalesforceSandbox, api: Api) -> None:
    records = await api.records(
        "SELECT Id, OrderNumber, Account.Name, Account.BillingCountry, "
        "(SELECT Quantity, PricebookEntry.Product2.ERP_Item_No__c FROM OrderItems ORDER BY Quantity) "
        "FROM Order ORDER BY OrderNumber LIMIT 3"
    )
    stored = {r["Id"]: r for r in seeded.records("Order")}
    accounts = {r["Id"]: r for r in seeded.records("Account")}
    products = {r["Id"]: r for r in seeded.records("Product2")}
    assert len(records) == 3
    for record in records:
        order = stored[record["Id"]]
        assert record["attributes"] == {"type": "Order", "url": f"{V}/sobjects/Order/{record['Id']}"}
        assert record["Account"]["attributes"]["type"] == "Account"
        assert record["Account"]["Name"] == accounts[order["AccountId"]]["Name"]
        items = record["OrderItems"]
        assert items["done"] is True and items["totalSize"] == len(items["records"]) >= 2
        quantities = [i["Quantity"] for i in items["records"]]
        assert quantities == sorted(quantities)
        stored_items = [i for i in seeded.records("OrderItem") if i["OrderId"] == order["Id"]]
        assert sorted(i["PricebookEntry"]["Product2"]["ERP_Item_No__c"] for i in items["records"]) == sorted(
            products[i["Product2Id"]]["ERP_Item_No__c"] for i in stored_items
        )
        assert all(i["attributes"]["type"] == "OrderItem" for i in items["records"])


async def test_child_subquery_without_rows_is_null_and_empty_lookup_is_null(
    sandbox: SalesforceSandbox, api: Api
) -> None:
    sandbox.insert_records("Account", [{"Name": "Lonely"}])
    sandbox.insert_records("Contact", [{"LastName": "Orphan"}])
    account = (await api.records("SELECT Name, (SELECT Id FROM Contacts) FROM Account"))[0]
    contact = (await api.records("SELECT LastName, Account.Name FROM Contact"))[0]
    assert account["Contacts"] is None
    assert contact["Account"] is None


async def test_where_boolean_logic_with_parentheses_and_not(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.insert_records(
        "Account",
        [
            {"Name": "A", "BillingCity": "Denver", "Type": "Customer"},
            {"Name": "B", "BillingCity": "Austin", "Type": "Customer"},
            {"Name": "C", "BillingCity": "Denver", "Type": "Partner"},
            {"Name": "D", "BillingCity": None, "Type": "Prospect"},
        ],
    )
    soql = "SELECT Name FROM Account WHERE (BillingCity = 'denver' OR Type = 'Prospect') AND NOT Name = 'C' ORDER BY Name"
    assert names(await api.records(soql)) == ["A", "D"]
    assert names(await api.records("SELECT Name FROM Account WHERE BillingCity = null ORDER BY Name")) == [
        "D"
    ]
    assert names(await api.records("SELECT Name FROM Account WHERE BillingCity != null ORDER BY Name")) == [
        "A",
        "B",
        "C",
    ]
    in_soql = "SELECT Name FROM Account WHERE Type IN ('Partner','Prospect') ORDER BY Name"
    assert names(await api.records(in_soql)) == ["C", "D"]
    assert names(await api.records("SELECT Name FROM Account WHERE Name NOT IN ('A','B') ORDER BY Name")) == [
        "C",
        "D",
    ]
    assert names(
        await api.records("SELECT Name FROM Account WHERE Name <> 'A' AND Name < 'D' ORDER BY Name")
    ) == ["B", "C"]


async def test_like_wildcards_and_escaped_wildcards(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.insert_records(
        "Account", [{"Name": "100% Lumber"}, {"Name": "100 Lumber"}, {"Name": "a_b"}, {"Name": "axb"}]
    )
    assert names(await api.records("SELECT Name FROM Account WHERE Name LIKE '100\\%%'")) == ["100% Lumber"]
    assert names(await api.records("SELECT Name FROM Account WHERE Name LIKE '100%' ORDER BY Name")) == [
        "100 Lumber",
        "100% Lumber",
    ]
    assert names(await api.records("SELECT Name FROM Account WHERE Name LIKE 'A\\_B'")) == ["a_b"]
    assert names(await api.records("SELECT Name FROM Account WHERE Name LIKE 'a_b' ORDER BY Name")) == [
        "a_b",
        "axb",
    ]


async def test_escaped_string_literal_matches_exactly(sandbox: SalesforceSandbox, api: Api) -> None:
    tricky = 'O\'Brien \\ "x"\n'
    sandbox.insert_records("Account", [{"Name": tricky}, {"Name": "O'Brien"}])
    records = await api.records("SELECT Name FROM Account WHERE Name = 'O\\'Brien \\\\ \\\"x\\\"\\n'")
    assert names(records) == [tricky]


async def test_datetime_and_date_literals_and_relative_dates(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.control.clock.set(datetime(2024, 5, 10, 12, 0, tzinfo=UTC))
    sandbox.insert_records("Account", [{"Name": "old"}])
    sandbox.control.clock.advance(3 * 86400)
    sandbox.insert_records("Account", [{"Name": "new"}])
    assert names(await api.records("SELECT Name FROM Account WHERE CreatedDate > 2024-05-11T00:00:00Z")) == [
        "new"
    ]
    assert names(
        await api.records("SELECT Name FROM Account WHERE CreatedDate <= 2024-05-10T12:00:00+00:00")
    ) == ["old"]
    assert names(await api.records("SELECT Name FROM Account WHERE CreatedDate = TODAY")) == ["new"]
    assert names(await api.records("SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:1")) == ["new"]
    assert names(
        await api.records("SELECT Name FROM Account WHERE CreatedDate = LAST_N_DAYS:5 ORDER BY Name")
    ) == [
        "new",
        "old",
    ]
    account = sandbox.records("Account")[0]["Id"]
    sandbox.insert_records(
        "Order", [{"AccountId": account, "Status": "Draft", "EffectiveDate": "2024-05-01"}]
    )
    assert len(await api.records("SELECT Id FROM Order WHERE EffectiveDate >= 2024-05-01")) == 1
    assert len(await api.records("SELECT Id FROM Order WHERE EffectiveDate > 2024-05-01")) == 0


async def test_quoted_datetime_is_refused_as_invalid_field(sandbox: SalesforceSandbox, api: Api) -> None:
    response = await api.query("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01T00:00:00Z'")
    assert response.status_code == 400
    error = response.json()[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in error["message"]


async def test_order_by_several_fields_with_nulls_placement(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.insert_records(
        "Account",
        [
            {"Name": "b", "BillingCity": "X"},
            {"Name": "a", "BillingCity": None},
            {"Name": "c", "BillingCity": "X"},
            {"Name": "d", "BillingCity": "Y"},
        ],
    )
    desc = await api.records("SELECT Name FROM Account ORDER BY BillingCity DESC NULLS LAST, Name DESC")
    assert names(desc) == ["d", "c", "b", "a"]
    asc = await api.records("SELECT Name FROM Account ORDER BY BillingCity ASC, Name")
    assert names(asc) == ["a", "b", "c", "d"]  # ASC defaults to NULLS FIRST
    last = await api.records(
        "SELECT Name FROM Account ORDER BY BillingCity NULLS LAST, Name LIMIT 2 OFFSET 1"
    )
    assert names(last) == ["c", "d"]


async def test_count_returns_total_size_only(seeded: SalesforceSandbox, api: Api) -> None:
    body = (await api.query("SELECT COUNT() FROM Contact")).json()
    assert body == {"totalSize": 12, "done": True, "records": []}


async def test_records_carry_attributes_and_rest_datetime_format(seeded: SalesforceSandbox, api: Api) -> None:
    records = await api.records("SELECT Id, SystemModstamp, CreatedDate, IsDeleted FROM Contact")
    assert records and all(set(r["attributes"]) == {"type", "url"} for r in records)
    assert all(REST_DATETIME.match(r["SystemModstamp"]) for r in records)
    assert all(r["IsDeleted"] is False for r in records)


async def test_malformed_query_body(api: Api) -> None:
    response = await api.query("SELECT Id FORM Account")
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert error["message"].endswith("unexpected token: 'FORM'")
    assert "ERROR at Row:1:Column:11" in error["message"]


async def test_unknown_field_and_object_errors(api: Api) -> None:
    field = (await api.query("SELECT Id, foo__c FROM Account")).json()[0]
    assert field["errorCode"] == "INVALID_FIELD"
    assert "No such column 'foo__c' on entity 'Account'" in field["message"]
    relationship = (await api.query("SELECT Nope.Name FROM Contact")).json()[0]
    assert relationship["errorCode"] == "INVALID_FIELD"
    obj = (await api.query("SELECT Id FROM Lead")).json()[0]
    assert obj["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Lead' is not supported" in obj["message"]
    bad_escape = (await api.query("SELECT Id FROM Account WHERE Name = 'a\\qb'")).json()[0]
    assert bad_escape["errorCode"] == "MALFORMED_QUERY"


async def test_pagination_follows_locators_and_totals(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.insert_records("Account", [{"Name": f"acct {n:04d}"} for n in range(450)])
    first = await api.query("SELECT Name FROM Account ORDER BY Name", batch=200)
    body = first.json()
    assert body["totalSize"] == 450 and body["done"] is False and len(body["records"]) == 200
    assert re.fullmatch(rf"{V}/query/01g\w{{15}}-200", body["nextRecordsUrl"])
    seen = names(body["records"])
    while not body["done"]:
        body = (await api.call("GET", body["nextRecordsUrl"])).json()
        seen += names(body["records"])
    assert "nextRecordsUrl" not in body
    assert seen == [f"acct {n:04d}" for n in range(450)]


@pytest.mark.parametrize(("asked", "served"), [(50, 200), (5000, 2000), (None, 2000), (700, 700)])
async def test_batch_size_is_clamped_to_200_2000(
    sandbox: SalesforceSandbox, api: Api, asked: int | None, served: int
) -> None:
    sandbox.insert_records("Account", [{"Name": f"n{n}"} for n in range(2100)])
    body = (await api.query("SELECT Id FROM Account", batch=asked)).json()
    assert len(body["records"]) == served


async def test_unknown_locator_is_invalid_query_locator(api: Api) -> None:
    response = await api.call("GET", f"{V}/query/01gDn0000000000AAA-2000")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


async def test_query_all_returns_deleted_rows(sandbox: SalesforceSandbox, api: Api) -> None:
    _keep, gone = sandbox.insert_records("Account", [{"Name": "keep"}, {"Name": "gone"}])
    assert (await api.call("DELETE", f"/sobjects/Account/{gone}")).status_code == 204
    assert names(await api.records("SELECT Name FROM Account")) == ["keep"]
    every = await api.records("SELECT Name, IsDeleted FROM Account ORDER BY Name", all_rows=True)
    assert [(r["Name"], r["IsDeleted"]) for r in every] == [("gone", True), ("keep", False)]
    deleted = await api.records("SELECT Id FROM Account WHERE IsDeleted = true", all_rows=True)
    assert [r["Id"] for r in deleted] == [gone]


async def test_fifteen_character_ids_match_in_filters(sandbox: SalesforceSandbox, api: Api) -> None:
    account_id, _ = sandbox.insert_records("Account", [{"Name": "a"}, {"Name": "b"}])
    assert names(await api.records(f"SELECT Name FROM Account WHERE Id = '{account_id[:15]}'")) == ["a"]
    assert names(await api.records(f"SELECT Name FROM Account WHERE Id IN ('{account_id[:15]}')")) == ["a"]
