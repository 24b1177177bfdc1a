"""Client writes: upserts, collections, resend rules after lost responses, quota and budget."""

from __future__ import annotations

import re

import pytest

from ml_connector.errors import ConnectorError, NotFound, QuotaExhausted, RecordError, Retryable
from ml_connector.salesforce import SalesforceClient
from ml_connector.sandbox.salesforce import SalesforceSandbox

EXT = "Acumatica_Customer_ID__c"


def calls(sandbox: SalesforceSandbox, key: str) -> int:
    """Calls of one route; injected faults answer before routing, so they count under the raw path."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"[^/]+", re.escape(key))
    counted = sandbox.control.stats.snapshot()["calls"]
    return sum(n for k, n in counted.items() if re.fullmatch(pattern, k))


async def test_upsert_creates_then_updates_and_tags_the_writer(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    created = await client.upsert("Account", EXT, "C-1", {"Name": "Keystone"})
    updated = await client.upsert("Account", EXT, "C-1", {"Name": "Keystone LLC", EXT: "C-1"})
    assert created.created is True and updated.created is False and created.id == updated.id
    assert [r["Name"] for r in sandbox.records("Account")] == ["Keystone LLC"]
    assert {c.client for c in sandbox.changes} == {"ml-connector"}


async def test_upsert_refuses_contradicting_key(client: SalesforceClient) -> None:
    with pytest.raises(ValueError):
        await client.upsert("Account", EXT, "C-1", {"Name": "x", EXT: "C-2"})


async def test_lost_response_on_upsert_is_resent_and_makes_one_record(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    await client.limits()  # token first, so the fault hits the upsert itself
    sandbox.control.set_faults({"lost_response_rate": 1.0})
    answers = iter([True])  # lose exactly the first answer, then behave
    sandbox.control.roll = lambda rate: rate > 0 and next(answers, False)  # type: ignore[method-assign]
    result = await client.upsert("Account", EXT, "C-9", {"Name": "Lost once"})
    records = sandbox.records("Account")
    assert len(records) == 1 and records[0]["Id"] == result.id
    assert result.created is False  # the resend found the record the lost call had created
    assert sandbox.control.stats.snapshot()["faults"] == {"lost_response": 1}


async def test_lost_response_on_create_is_not_resent(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    await client.limits()
    sandbox.control.set_faults({"lost_response_rate": 1.0})
    with pytest.raises(ConnectorError) as caught:
        await client.create("Account", {"Name": "maybe"})
    assert not isinstance(caught.value, Retryable) and "outcome is unknown" in caught.value.message
    assert len(sandbox.records("Account")) == 1
    assert calls(sandbox, "POST /services/data/{version}/sobjects/{sobject}") == 1


async def test_server_errors_are_retried_for_reads_only(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    [record_id] = sandbox.insert_records("Account", [{"Name": "a"}])
    await client.limits()
    sandbox.control.set_faults({"error_500_rate": 1.0})
    with pytest.raises(Retryable):
        await client.get("Account", record_id)
    assert (
        calls(sandbox, "GET /services/data/{version}/sobjects/{sobject}/{record_id}") == 5
    )  # retry_attempts
    with pytest.raises(Retryable):
        await client.create("Account", {"Name": "b"})
    assert calls(sandbox, "POST /services/data/{version}/sobjects/{sobject}") == 1


async def test_server_unavailable_is_retried_even_for_create(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    await client.limits()
    sandbox.control.set_faults({"error_429_rate": 1.0})  # the sandbox answers an injected "429" as 503
    answers = iter([True])  # only the first roll at a non-zero rate fires
    sandbox.control.roll = lambda rate: rate > 0 and next(answers, False)  # type: ignore[method-assign]
    record_id = await client.create("Account", {"Name": "after 503"})
    assert [r["Id"] for r in sandbox.records("Account")] == [record_id]
    assert calls(sandbox, "POST /services/data/{version}/sobjects/{sobject}") == 2


async def test_request_limit_exceeded_is_quota_exhausted_without_retry(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    await client.limits()  # the client now believes 1/100000 are used: well inside its budget
    sandbox.allocation.daily_limit = 1
    with pytest.raises(QuotaExhausted) as caught:
        await client.describe("Account")
    assert "REQUEST_LIMIT_EXCEEDED" in caught.value.message
    assert calls(sandbox, "GET /services/data/{version}/sobjects/{sobject}/describe") == 1


async def test_api_budget_refuses_new_work(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    sandbox.allocation.daily_limit = 100
    sandbox.allocation.set_used(78)
    await client.limits()
    assert client.api_usage == (79, 100)
    await client.describe("Account")  # 79 % < 80 %: allowed, now 80/100
    assert client.api_usage == (80, 100)
    with pytest.raises(QuotaExhausted) as caught:
        await client.get("Account", "001Dn0000000001AAA")
    assert "budget" in caught.value.message and caught.value.hint
    assert client.api_usage == (80, 100)  # refused before any call


async def test_describe_is_cached(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    first = await client.describe("Account")
    second = await client.describe("Account")
    assert first is second and any(f["name"] == EXT and f["externalId"] for f in first["fields"])
    assert calls(sandbox, "GET /services/data/{version}/sobjects/{sobject}/describe") == 1


async def test_get_missing_record_is_not_found(client: SalesforceClient) -> None:
    with pytest.raises(NotFound):
        await client.get("Account", "001Dn0000000001AAA")


async def test_upsert_many_chunks_by_200_and_reports_per_record(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    records = [{EXT: f"C-{n}", "Name": f"acct {n}"} for n in range(450)]
    records[300]["Name"] = "x" * 300
    results = await client.upsert_many("Account", EXT, records)
    assert len(results) == 450
    assert calls(sandbox, "PATCH /services/data/{version}/composite/sobjects/{sobject}/{ext_field}") == 3
    failed = [r for r in results if not r.success]
    assert len(failed) == 1 and failed[0] is results[300]
    assert isinstance(failed[0].error, RecordError) and failed[0].error.code == "STRING_TOO_LONG"
    assert failed[0].error.field_errors.keys() == {"Name"}
    assert all(r.created for r in results if r.success)
    assert len(sandbox.records("Account")) == 449
    again = await client.upsert_many("Account", EXT, records[:3])
    assert [r.created for r in again] == [False, False, False]


async def test_upsert_many_all_or_none(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    results = await client.upsert_many(
        "Account", EXT, [{EXT: "A", "Name": "ok"}, {EXT: "B"}], all_or_none=True
    )
    assert [r.success for r in results] == [False, False]
    assert results[0].error is not None and results[0].error.code == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1].error is not None and results[1].error.code == "REQUIRED_FIELD_MISSING"
    assert sandbox.records("Account") == []


async def test_update_many_and_update_by_id(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    a, b = sandbox.insert_records("Account", [{"Name": "a"}, {"Name": "b"}])
    results = await client.update_many(
        "Account", [{"Id": a, "Acumatica_Credit_Limit__c": 5000}, {"Id": b, "Name": ""}]
    )
    assert [r.success for r in results] == [True, False]
    await client.update("Account", b, {"Acumatica_Status__c": "Credit Hold"})
    stored = {r["Id"]: r for r in sandbox.records("Account")}
    assert (
        stored[a]["Acumatica_Credit_Limit__c"] == 5000.0 and stored[b]["Acumatica_Status__c"] == "Credit Hold"
    )
    assert sandbox.changes[-1].client == "ml-connector"


async def test_validation_error_on_single_write_is_record_error(client: SalesforceClient) -> None:
    with pytest.raises(RecordError) as caught:
        await client.create("Contact", {"FirstName": "no last name"})
    assert caught.value.code == "REQUIRED_FIELD_MISSING" and "LastName" in caught.value.field_errors


async def test_upsert_matching_several_records_is_record_error(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    sandbox.insert_records("Product2", [{"Name": "Stud"}, {"Name": "STUD"}])
    with pytest.raises(RecordError) as caught:
        await client.upsert("Product2", "Name", "Stud", {"Family": "Lumber"})
    assert caught.value.code == "MULTIPLE_CHOICES" and caught.value.hint
    assert calls(sandbox, "PATCH /services/data/{version}/sobjects/{sobject}/{ext_field}/{ext_value}") == 1


async def test_lost_response_on_update_many_is_resent(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    [account] = sandbox.insert_records("Account", [{"Name": "a"}])
    await client.limits()
    sandbox.control.set_faults({"lost_response_rate": 1.0})
    answers = iter([True])
    sandbox.control.roll = lambda rate: rate > 0 and next(answers, False)  # type: ignore[method-assign]
    [result] = await client.update_many("Account", [{"Id": account, "Acumatica_AR_Balance__c": 1250.5}])
    assert result.success and result.id == account
    assert sandbox.records("Account")[0]["Acumatica_AR_Balance__c"] == 1250.5
    assert calls(sandbox, "PATCH /services/data/{version}/composite/sobjects") == 2


async def test_lost_query_page_is_fetched_again(client: SalesforceClient, sandbox: SalesforceSandbox) -> None:
    sandbox.insert_records("Account", [{"Name": f"n{n}"} for n in range(500)])
    pages = client.query_pages("SELECT Name FROM Account", batch_size=200)
    first = await pages.__anext__()
    sandbox.control.set_faults({"lost_response_rate": 1.0})
    answers = iter([True])
    sandbox.control.roll = lambda rate: rate > 0 and next(answers, False)  # type: ignore[method-assign]
    rest = [page async for page in pages]
    names = [r["Name"] for page in (first, *rest) for r in page.records]
    assert names == [f"n{n}" for n in range(500)]
