"""Fidelity: the third-party simple-salesforce library, written against the real API, drives the sandbox.

simple-salesforce always builds ``https://`` URLs from ``instance_url``; the sandbox serves plain HTTP
on loopback, so the requests session gets an adapter that rewrites the scheme — nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from sf_loopback import served
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from ml_connector.sandbox.salesforce import SalesforceSandbox


class _PlainHttpAdapter(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = (request.url or "").replace("https://", "http://", 1)
        return super().send(request, *args, **kwargs)


@pytest.fixture
def sf() -> Iterator[tuple[Salesforce, SalesforceSandbox]]:
    sandbox = SalesforceSandbox()
    sandbox.seed(accounts=5, contacts_per_account=1, orders=4)
    sandbox.insert_records("Account", [{"Name": f"bulk {n}"} for n in range(2500)])
    with served(sandbox) as base_url:
        token = requests.post(
            f"{base_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
            },
            timeout=10,
        ).json()
        session = requests.Session()
        session.mount("https://", _PlainHttpAdapter())
        yield (
            Salesforce(
                instance_url=token["instance_url"],
                session_id=token["access_token"],
                version="62.0",
                session=session,
            ),
            sandbox,
        )


def test_query_all_follows_pages(sf: tuple[Salesforce, SalesforceSandbox]) -> None:
    client, sandbox = sf
    result = client.query_all("SELECT Id, Name, BillingCountry FROM Account")
    assert result["totalSize"] == 2505 and result["done"] is True
    assert len(result["records"]) == 2505
    assert {r["Id"] for r in result["records"]} == {r["Id"] for r in sandbox.records("Account")}
    assert client.api_usage["api-usage"].used >= 2  # parsed from Sforce-Limit-Info


def test_upsert_get_and_describe(sf: tuple[Salesforce, SalesforceSandbox]) -> None:
    client, sandbox = sf
    assert client.Account.upsert("Acumatica_Customer_ID__c/C-0042", {"Name": "Harbor Builders"}) == 201
    assert client.Account.upsert("Acumatica_Customer_ID__c/C-0042", {"Name": "Harbor Builders Inc."}) == 200
    [stored] = [r for r in sandbox.records("Account") if r["Acumatica_Customer_ID__c"] == "C-0042"]
    record = client.Account.get(stored["Id"])
    assert record["Name"] == "Harbor Builders Inc." and record["attributes"]["type"] == "Account"
    by_ext = client.Account.get_by_custom_id("Acumatica_Customer_ID__c", "C-0042")
    assert by_ext["Id"] == stored["Id"]
    describe = client.Account.describe()
    ext = next(f for f in describe["fields"] if f["name"] == "Acumatica_Customer_ID__c")
    assert ext["externalId"] is True and ext["unique"] is True
    with pytest.raises(SalesforceResourceNotFound):
        client.Account.get("001Dn0000000001AAA")


def test_query_with_relationships_and_deleted(sf: tuple[Salesforce, SalesforceSandbox]) -> None:
    client, sandbox = sf
    orders = client.query_all("SELECT Id, Account.Name, (SELECT Quantity FROM OrderItems) FROM Order")
    assert orders["totalSize"] == 4 and all(o["OrderItems"]["totalSize"] >= 2 for o in orders["records"])
    contact = sandbox.records("Contact")[0]["Id"]
    assert client.Contact.delete(contact) == 204
    deleted = client.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert [r["Id"] for r in deleted["records"]] == [contact]
