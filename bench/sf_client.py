"""Throughput of the Salesforce client against the in-process sandbox.

Run: .venv/bin/python bench/sf_client.py [--records 10000]
Reports the wall time of a paged 10k-record query (batchSize 2000, five pages) and of an
upsert_many of 1,000 accounts (five collection calls of 200).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ml_connector.salesforce import SalesforceClient
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.salesforce import SalesforceSandbox


async def main(records: int) -> None:
    sandbox = SalesforceSandbox(base_url="https://bench.my.salesforce.com")
    started = time.perf_counter()
    sandbox.insert_records(
        "Account", [{"Name": f"Account {n}", "AccountNumber": str(n)} for n in range(records)]
    )
    print(f"insert {records} accounts into the store: {time.perf_counter() - started:.2f} s")
    async with SalesforceClient(
        login_url=sandbox.base_url,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        transport=SandboxTransport(sandbox.app),
    ) as client:
        started = time.perf_counter()
        count = 0
        async for _ in client.query("SELECT Id, Name, AccountNumber, SystemModstamp FROM Account"):
            count += 1
        print(f"query {count} records (batchSize 2000): {time.perf_counter() - started:.2f} s")
        rows = [{"Acumatica_Customer_ID__c": f"C{n:05d}", "Name": f"Customer {n}"} for n in range(1000)]
        started = time.perf_counter()
        results = await client.upsert_many("Account", "Acumatica_Customer_ID__c", rows)
        print(f"upsert_many {len(results)} records (5 calls): {time.perf_counter() - started:.2f} s")
        print(f"API usage: {client.api_usage}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().records))
