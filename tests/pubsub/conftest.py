"""Fixtures: a REST sandbox, its Pub/Sub sandbox on a loopback port, a REST client and subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx2
import pytest
from pubsub_helpers import Harness, Org, SubscriberFactory, wait_for

from ml_connector.salesforce.pubsub import CdcBatch, CdcSubscriber, MemoryReplayStore
from ml_connector.salesforce.pubsub import pubsub_api_pb2_grpc as pb_grpc
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.pubsub import PubSubSandbox
from ml_connector.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
async def org() -> AsyncIterator[Org]:
    sf = SalesforceSandbox()
    ps = PubSubSandbox.for_salesforce(sf, keepalive_seconds=0.2)
    await ps.start()
    async with httpx2.AsyncClient(transport=SandboxTransport(sf.app), base_url=sf.base_url) as http:
        o = Org(sf, ps, http)
        await o.new_token()
        yield o
    await ps.stop(grace=None)


@pytest.fixture
async def channel(org: Org) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(org.ps.endpoint) as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> Any:
    return pb_grpc.PubSubStub(channel)


@pytest.fixture
async def start_subscriber(org: Org) -> AsyncIterator[SubscriberFactory]:
    running: list[Harness] = []

    async def start(
        *,
        store: MemoryReplayStore | None = None,
        handler: Callable[[CdcBatch], Awaitable[None]] | None = None,
        token: str | None = None,
        wait_connected: bool = True,
        **options: Any,
    ) -> Harness:
        current = {"token": token if token is not None else org.token}

        async def token_provider() -> tuple[str, str, str]:
            return current["token"], org.sf.base_url, org.sf.org_id

        async def on_auth_refused() -> None:
            harness.auth_refusals += 1
            current["token"] = await org.new_token()

        async def collect(batch: CdcBatch) -> None:
            if handler is not None:
                await handler(batch)
            harness.batches.put_nowait(batch)

        replay_store = store if store is not None else MemoryReplayStore()
        options.setdefault("backoff_initial", 0.01)
        options.setdefault("backoff_max", 0.05)
        subscriber = CdcSubscriber(
            endpoint=org.ps.endpoint,
            token_provider=token_provider,
            on_auth_refused=on_auth_refused,
            replay_store=replay_store,
            batch_handler=collect,
            **options,
        )
        harness = Harness(subscriber, replay_store)
        harness.task = asyncio.create_task(subscriber.run())
        running.append(harness)
        if wait_connected:
            await wait_for(lambda: subscriber.connected or subscriber.last_replay_id is not None)
        return harness

    yield start
    for harness in running:
        await harness.stop()
