"""Commit-to-handler latency of Change Data Capture through the Pub/Sub sandbox.

Each round writes one Account through the REST sandbox (in-process) and times how long until the
``CdcSubscriber``'s batch handler holds the decoded event (real loopback gRPC, real Avro).

    .venv/bin/python bench/cdc_latency.py [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx2

from ml_connector.salesforce.pubsub import CdcBatch, CdcSubscriber, MemoryReplayStore
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.pubsub import PubSubSandbox
from ml_connector.sandbox.salesforce import SalesforceSandbox


async def main(rounds: int) -> None:
    sf = SalesforceSandbox()
    ps = PubSubSandbox.for_salesforce(sf, keepalive_seconds=0.2)
    await ps.start()
    async with httpx2.AsyncClient(transport=SandboxTransport(sf.app), base_url=sf.base_url) as http:
        token_response = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sf.client_id,
                "client_secret": sf.client_secret,
            },
        )
        token = token_response.json()["access_token"]
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def tokens() -> tuple[str, str, str]:
            return token, sf.base_url, sf.org_id

        async def refused() -> None:
            raise RuntimeError("token refused")

        async def handler(batch: CdcBatch) -> None:
            for _ in batch.events:
                arrived.put_nowait(time.perf_counter())

        store = MemoryReplayStore()
        subscriber = CdcSubscriber(
            endpoint=ps.endpoint,
            token_provider=tokens,
            on_auth_refused=refused,
            replay_store=store,
            batch_handler=handler,
        )
        task = asyncio.create_task(subscriber.run())
        while store.replay_id is None:  # noqa: ASYNC110 - first keep-alive: the subscription is in place
            await asyncio.sleep(0.01)
        latencies: list[float] = []
        for n in range(rounds):
            started = time.perf_counter()
            response = await http.post(
                "/services/data/v62.0/sobjects/Account",
                json={"Name": f"Bench {n}"},
                headers={"Authorization": f"Bearer {token}", "Sforce-Call-Options": "client=bench"},
            )
            response.raise_for_status()
            latencies.append((await asyncio.wait_for(arrived.get(), 10)) - started)
        await subscriber.stop()
        await task
    await ps.stop()
    ms = sorted(x * 1000 for x in latencies)
    print(
        f"rounds={rounds} REST write → handler: p50={statistics.median(ms):.2f} ms "
        f"p95={ms[int(len(ms) * 0.95) - 1]:.2f} ms max={ms[-1]:.2f} ms (includes the REST call)"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
