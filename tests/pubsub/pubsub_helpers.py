"""Helpers of the Pub/Sub tests: the sandbox pair, a subscriber harness, small waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from ml_connector.salesforce.pubsub import CdcBatch, CdcSubscriber, MemoryReplayStore
from ml_connector.salesforce.pubsub import pubsub_api_pb2 as pb
from ml_connector.sandbox.pubsub import PubSubSandbox
from ml_connector.sandbox.salesforce import SalesforceSandbox

API = "/services/data/v62.0"
OUR_CLIENT = {"Sforce-Call-Options": "client=ml-connector"}


@dataclass
class Org:
    """The REST sandbox, its Pub/Sub sandbox, and an authenticated REST client."""

    sf: SalesforceSandbox
    ps: PubSubSandbox
    http: httpx2.AsyncClient
    token: str = ""

    async def new_token(self) -> str:
        response = await self.http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.sf.client_id,
                "client_secret": self.sf.client_secret,
            },
        )
        response.raise_for_status()
        self.token = response.json()["access_token"]
        return self.token

    def auth(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        return (
            ("accesstoken", token if token is not None else self.token),
            ("instanceurl", self.sf.base_url),
            ("tenantid", self.sf.org_id),
        )

    async def create(self, name: str, headers: dict[str, str] | None = None, **fields: Any) -> str:
        response = await self.http.post(
            f"{API}/sobjects/Account", json={"Name": name, **fields}, headers=self.auth(headers)
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def update(self, record_id: str, headers: dict[str, str] | None = None, **fields: Any) -> None:
        response = await self.http.patch(
            f"{API}/sobjects/Account/{record_id}", json=fields, headers=self.auth(headers)
        )
        assert response.status_code == 204, response.text


@dataclass
class Harness:
    """A subscriber running in the background, its batches in a queue."""

    subscriber: CdcSubscriber
    store: MemoryReplayStore
    batches: asyncio.Queue[CdcBatch] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    auth_refusals: int = 0

    async def next_batch(self, seconds: float = 5.0) -> CdcBatch:
        return await asyncio.wait_for(self.batches.get(), seconds)

    async def events(self, count: int, seconds: float = 5.0) -> list[Any]:
        out: list[Any] = []
        while len(out) < count:
            out.extend((await self.next_batch(seconds)).events)
        return out

    async def stop(self) -> None:
        await self.subscriber.stop()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, 5)


SubscriberFactory = Callable[..., Awaitable[Harness]]


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll a condition every few milliseconds (a bounded wait on an async effect, not a timing test)."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls state owned by other objects
            await asyncio.sleep(0.005)


def fetch(topic: str = "/data/ChangeEvents", num: int = 1, preset: int = 0, replay_id: bytes = b"") -> Any:
    return pb.FetchRequest(topic_name=topic, replay_preset=preset, replay_id=replay_id, num_requested=num)
