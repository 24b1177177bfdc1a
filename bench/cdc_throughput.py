"""Events per second from the Pub/Sub sandbox through ``CdcSubscriber`` (decode + batch handler).

Commits N Account creates straight into the REST sandbox's store, then times a subscriber that
starts at EARLIEST-equivalent (a replay id before the first event) until it handled all N.

    .venv/bin/python bench/cdc_throughput.py [events] [batch_size]
"""

from __future__ import annotations

import asyncio
import sys
import time

from ml_connector.salesforce.pubsub import CdcBatch, CdcSubscriber, MemoryReplayStore
from ml_connector.sandbox.pubsub import PubSubSandbox
from ml_connector.sandbox.salesforce import SalesforceSandbox


async def main(total: int, batch_size: int) -> None:
    sf = SalesforceSandbox()
    ps = PubSubSandbox.for_salesforce(sf, keepalive_seconds=0.5)
    await ps.start()
    token = sf.sessions.issue(sf.user_id).access_token
    store = MemoryReplayStore(ps.bus.replay_id(0))  # "after position 0": every event
    for start in range(0, total, 1000):
        sf.insert_records("Account", [{"Name": f"Bulk {n}"} for n in range(start, min(start + 1000, total))])
    done = asyncio.Event()
    handled = 0

    async def tokens() -> tuple[str, str, str]:
        return token, sf.base_url, sf.org_id

    async def refused() -> None:
        raise RuntimeError("token refused")

    async def handler(batch: CdcBatch) -> None:
        nonlocal handled
        handled += len(batch.events)
        if handled >= total:
            done.set()

    subscriber = CdcSubscriber(
        endpoint=ps.endpoint,
        token_provider=tokens,
        on_auth_refused=refused,
        replay_store=store,
        batch_handler=handler,
        batch_size=batch_size,
    )
    started = time.perf_counter()
    task = asyncio.create_task(subscriber.run())
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    await subscriber.stop()
    await task
    await ps.stop()
    print(
        f"events={total} batch_size={batch_size}: {elapsed:.2f} s, {total / elapsed:,.0f} events/s "
        f"(GetSchema calls: {subscriber.schema_fetches})"
    )


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000, int(sys.argv[2]) if len(sys.argv) > 2 else 100)
    )
