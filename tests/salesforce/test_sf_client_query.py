"""Client queries: pagination across a token expiry, escaping, queryAll, query errors."""

from __future__ import annotations

import pytest

from ml_connector.errors import ConfigError
from ml_connector.salesforce import SalesforceClient, soql
from ml_connector.sandbox.salesforce import SalesforceSandbox


async def test_10k_query_re_tokens_mid_pagination_and_yields_each_record_once(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    sandbox.insert_records(
        "Account", [{"Name": f"Account {n:05d}", "AccountNumber": str(n)} for n in range(10_000)]
    )
    seen: list[str] = []
    pages = 0
    async for page in client.query_pages("SELECT Id, AccountNumber FROM Account", batch_size=2000):
        pages += 1
        assert page.total_size == 10_000
        seen.extend(r["AccountNumber"] for r in page.records)
        if pages == 2:
            sandbox.control.clock.advance(7200 + 60)  # the session idles out between pages 2 and 3
    assert pages == 5
    assert len(seen) == 10_000 and set(seen) == {str(n) for n in range(10_000)}
    assert client.tokens.fetches == 2  # one initial token, one re-token mid-pagination


async def test_obrien_name_is_found_and_nothing_else(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    tricky = "O'Brien \\ \"x\" OR Name != ''"
    sandbox.insert_records(
        "Account", [{"Name": tricky}, {"Name": "O'Brien"}, {"Name": "Other"}, {"Name": "x"}]
    )
    query = soql.format("SELECT Id, Name FROM Account WHERE Name = {}", tricky)
    found = [r async for r in client.query(query)]
    assert [r["Name"] for r in found] == [tricky]


async def test_like_builder_matches_literally(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    sandbox.insert_records("Account", [{"Name": "50% off"}, {"Name": "50 off"}])
    query = "SELECT Name FROM Account WHERE Name LIKE " + soql.like("50%", "starts")
    assert [r["Name"] async for r in client.query(query)] == ["50% off"]


async def test_query_all_includes_deleted(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    keep, gone = sandbox.insert_records("Account", [{"Name": "keep"}, {"Name": "gone"}])
    with sandbox.org.transaction() as tx:
        tx.delete("Account", gone)
    live = [r["Id"] async for r in client.query("SELECT Id FROM Account")]
    every = {r["Id"]: r["IsDeleted"] async for r in client.query_all("SELECT Id, IsDeleted FROM Account")}
    assert live == [keep]
    assert every == {keep: False, gone: True}


async def test_bad_query_is_config_error_with_the_server_message(client: SalesforceClient) -> None:
    with pytest.raises(ConfigError) as caught:
        _ = [r async for r in client.query("SELECT Id, Missing__c FROM Account")]
    assert "INVALID_FIELD" in caught.value.message and "Missing__c" in caught.value.message


async def test_batch_size_outside_the_documented_range_is_refused(client: SalesforceClient) -> None:
    with pytest.raises(ValueError):
        _ = [p async for p in client.query_pages("SELECT Id FROM Account", batch_size=100)]
