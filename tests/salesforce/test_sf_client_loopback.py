"""The client over a real loopback socket: token, upsert through a dropped connection, paged query."""

from __future__ import annotations

from sf_loopback import served

from ml_connector.salesforce import SalesforceClient, soql
from ml_connector.sandbox.salesforce import SalesforceSandbox


async def test_client_over_loopback_survives_a_dropped_connection_on_upsert() -> None:
    sandbox = SalesforceSandbox()
    sandbox.insert_records("Account", [{"Name": f"n{n}", "AccountNumber": str(n)} for n in range(600)])
    with served(sandbox) as base_url:
        async with SalesforceClient(
            login_url=base_url,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            retry_wait_initial=0.001,
            retry_wait_max=0.01,
        ) as client:
            numbers = [
                r["AccountNumber"]
                async for r in client.query("SELECT AccountNumber FROM Account", batch_size=200)
            ]
            assert sorted(numbers, key=int) == [str(n) for n in range(600)]
            answers = iter([True])
            sandbox.control.set_faults({"lost_response_rate": 1.0})
            sandbox.control.roll = lambda rate: rate > 0 and next(answers, False)  # type: ignore[method-assign]
            result = await client.upsert(
                "Account", "Acumatica_Customer_ID__c", "C-1", {"Name": "over the wire"}
            )
            query = soql.format("SELECT Id FROM Account WHERE Acumatica_Customer_ID__c = {}", "C-1")
            found = [r["Id"] async for r in client.query(query)]
    assert found == [result.id]
    assert sandbox.control.stats.snapshot()["faults"] == {"lost_response": 1}
