"""API allocation, limits, injected faults, control routes and seed data (§2.4, §7, DESIGN sandbox)."""

from __future__ import annotations

import httpx2
import pytest
from sf_sandbox_helpers import Api, V

from ml_connector.sandbox.catalog import salesforce_products
from ml_connector.sandbox.salesforce import SalesforceSandbox


async def test_limit_info_header_counts_calls(api: Api) -> None:
    first = await api.call("GET", "/limits")
    second = await api.call("GET", "/sobjects/Account/describe")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    assert first.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99999}


async def test_daily_allocation_then_request_limit_exceeded(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.allocation.daily_limit = 3
    sandbox.sessions.idle_timeout = 10 * 24 * 3600  # keep the session through the 24 h jump
    for _ in range(3):
        assert (await api.call("GET", "/limits")).status_code == 200
    refused = await api.call("GET", "/limits")
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED", "fields": []}
    ]
    assert "retry-after" not in refused.headers
    sandbox.control.clock.advance(24 * 3600 + 1)  # rolling 24 h window
    assert (await api.call("GET", "/limits")).status_code == 200


async def test_injected_faults_use_salesforce_bodies(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.control.set_faults({"error_500_rate": 1.0})
    failed = await api.call("GET", "/limits")
    assert failed.status_code == 500 and failed.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    sandbox.control.set_faults({"error_500_rate": 0.0, "error_429_rate": 1.0})
    throttled = await api.call("GET", "/limits")
    assert throttled.status_code == 503 and throttled.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"


async def test_lost_response_applies_the_change(sandbox: SalesforceSandbox, api: Api) -> None:
    sandbox.control.set_faults({"lost_response_rate": 1.0})
    with pytest.raises(httpx2.RemoteProtocolError):
        await api.call("POST", "/sobjects/Account", json={"Name": "applied anyway"})
    assert [r["Name"] for r in sandbox.records("Account")] == ["applied anyway"]


async def test_control_routes_stats_seed_and_reset(
    sandbox: SalesforceSandbox, api: Api, http: httpx2.AsyncClient
) -> None:
    seeded = (
        await http.post("/_sandbox/seed", json={"accounts": 3, "orders": 2, "contacts_per_account": 1})
    ).json()
    assert seeded["result"]["Account"] == 3
    await api.call("GET", "/limits")
    stats = (await http.get("/_sandbox/stats")).json()
    assert stats["calls"]["GET /services/data/{version}/limits"] == 1
    assert stats["records"]["Account"] == 3 and stats["records"]["Product2"] == len(salesforce_products())
    assert (await http.post("/_sandbox/reset")).json() == {"reset": True}
    assert sandbox.records("Account") == []
    assert (await api.call("GET", "/limits")).status_code == 401  # sessions are gone too


def test_seed_is_deterministic_and_looks_like_a_distributor() -> None:
    first, second = SalesforceSandbox(), SalesforceSandbox()
    assert first.seed(seed=5) == second.seed(seed=5)
    strip = (
        "Id",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "AccountId",
        "OwnerId",
        "CreatedById",
        "LastModifiedById",
    )

    def shape(sb: SalesforceSandbox, name: str) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in strip} for r in sb.records(name)]

    assert shape(first, "Account") == shape(second, "Account")
    accounts = first.records("Account")
    assert len(accounts) == 20 and all(
        a["BillingStreet"] and a["BillingCity"] and a["BillingCountry"] for a in accounts
    )
    assert {a["BillingCountry"] for a in accounts} <= {"United States", "Canada", "Mexico"}
    assert len(first.records("Contact")) == 40
    books = first.records("Pricebook2")
    assert [(b["Name"], b["IsStandard"]) for b in books] == [("Standard Price Book", True)]
    products = {p["ERP_Item_No__c"] for p in first.records("Product2")}
    assert products == {item.item_no for item in salesforce_products()}
    assert len(first.records("PricebookEntry")) == len(products)


def test_credentials_are_stable_per_seed() -> None:
    assert (
        SalesforceSandbox(credentials_seed=3).client_secret
        == SalesforceSandbox(credentials_seed=3).client_secret
    )
    assert SalesforceSandbox(credentials_seed=3).client_id != SalesforceSandbox(credentials_seed=4).client_id


async def test_base_url_change_is_reflected_in_tokens(
    sandbox: SalesforceSandbox, http: httpx2.AsyncClient
) -> None:
    sandbox.base_url = "http://127.0.0.1:9999/"
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.json()["instance_url"] == "http://127.0.0.1:9999"
    assert V.startswith("/services/data/")
