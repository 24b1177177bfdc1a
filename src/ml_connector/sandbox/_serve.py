"""Run both fakes on loopback with uvicorn, and write a ready config for them.

Used by ``ml-connector sandbox``. Ports may be 0 (the OS picks free ones); each fake learns its real
URL after binding, so ``instance_url``, ``_links`` and ``Location`` headers carry the right port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from ml_connector.sandbox._control import SandboxClock
from ml_connector.sandbox.acumatica import AcumaticaSandbox
from ml_connector.sandbox.pubsub import PubSubSandbox, pubsub_control_routes
from ml_connector.sandbox.salesforce import SalesforceSandbox

__all__ = ["SandboxPair", "SeedSize", "serve_pair"]

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class SeedSize:
    """How much demo data to seed (deterministic for a given ``seed``)."""

    seed: int = 7
    accounts: int = 20
    contacts_per_account: int = 2
    orders: int = 30
    activated_ratio: float = 0.6
    acumatica_customers: int = 3


@dataclass
class SandboxPair:
    """A Salesforce fake (REST + Pub/Sub) and an Acumatica fake sharing one sandbox clock."""

    salesforce: SalesforceSandbox
    acumatica: AcumaticaSandbox
    clock: SandboxClock
    pubsub: PubSubSandbox
    servers: list[uvicorn.Server] = field(default_factory=list)

    @classmethod
    def create(cls, size: SeedSize | None = None, **acumatica_options: Any) -> SandboxPair:
        """Both fakes, seeded."""
        clock = SandboxClock()
        salesforce = SalesforceSandbox(clock=clock, credentials_seed=(size or SeedSize()).seed)
        acumatica = AcumaticaSandbox(clock=clock, **acumatica_options)
        pubsub = PubSubSandbox.for_salesforce(salesforce)
        # Gap and overflow injection live next to the REST fake's own /_sandbox/ routes.
        rest_app = cast(Starlette, salesforce.app.app)
        rest_app.router.routes[0:0] = pubsub_control_routes(pubsub)
        pair = cls(salesforce, acumatica, clock, pubsub)
        if size is not None:
            pair.seed(size)
        return pair

    def seed(self, size: SeedSize) -> dict[str, dict[str, int]]:
        """Seed both fakes from the shared catalogue."""
        return {
            "salesforce": self.salesforce.seed(
                seed=size.seed,
                accounts=size.accounts,
                contacts_per_account=size.contacts_per_account,
                orders=size.orders,
                activated_ratio=size.activated_ratio,
            ),
            "acumatica": self.acumatica.seed(seed=size.seed, customers=size.acumatica_customers),
        }

    @property
    def pubsub_endpoint(self) -> str | None:
        """``host:port`` of the Pub/Sub fake once it is serving."""
        try:
            return self.pubsub.endpoint
        except RuntimeError:
            return None

    def description(self) -> dict[str, Any]:
        """Every URL and credential a user or a test needs (printed by ``sandbox --json``)."""
        return {
            "salesforce": {
                "url": self.salesforce.base_url,
                "token_url": f"{self.salesforce.base_url}/services/oauth2/token",
                "client_id": self.salesforce.client_id,
                "client_secret": self.salesforce.client_secret,
                "api_versions": list(self.salesforce.api_versions),
                "control": f"{self.salesforce.base_url}/_sandbox/",
                "pubsub": self.pubsub_endpoint,
            },
            "acumatica": {
                "url": self.acumatica.instance_url,
                "endpoints": [f"{name}/{version}" for name, version in self.acumatica.endpoints],
                "control": f"{self.acumatica.base_url}/_sandbox/",
                **self.acumatica.credentials.as_dict(),
            },
        }


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serve_pair(
    pair: SandboxPair,
    *,
    host: str = LOOPBACK,
    salesforce_port: int = 0,
    acumatica_port: int = 0,
    pubsub_port: int = 0,
) -> AsyncIterator[SandboxPair]:
    """Serve both fakes over HTTP (and Pub/Sub over gRPC) until the context exits; URLs are set first."""
    bound: list[tuple[ASGIApp, socket.socket]] = []
    sf_sock = _bind(host, salesforce_port)
    acu_sock = _bind(host, acumatica_port)
    pair.salesforce.base_url = _url(host, sf_sock)
    pair.acumatica.base_url = _url(host, acu_sock)
    bound = [(pair.salesforce.app, sf_sock), (pair.acumatica.app, acu_sock)]
    tasks = []
    for app, sock in bound:
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        server = uvicorn.Server(config)
        pair.servers.append(server)
        tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
    await pair.pubsub.start(host, pubsub_port)
    try:
        while not all(server.started for server in pair.servers):
            if any(task.done() for task in tasks):
                for task in tasks:
                    if task.done() and task.exception():
                        raise RuntimeError(f"a sandbox server failed to start: {task.exception()}")
            await asyncio.sleep(0.01)
        yield pair
    finally:
        await pair.pubsub.stop()
        for server in pair.servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        pair.servers.clear()
        for _, sock in bound:
            sock.close()


def write_config(pair: SandboxPair, directory: Path) -> Path:
    """Write a ready ``ml-connector.toml`` for the pair into ``directory`` and store its credentials."""
    from pydantic import SecretStr

    from ml_connector import admin

    acu = pair.acumatica.credentials
    version = (
        pair.acumatica.endpoints[-2][1]
        if len(pair.acumatica.endpoints) > 1
        else pair.acumatica.endpoints[0][1]
    )
    path = directory / "ml-connector.toml"
    admin.initialise(
        path,
        force=True,
        values={
            "sf_url": pair.salesforce.base_url,
            "sf_client_id": pair.salesforce.client_id,
            "acu_url": pair.acumatica.instance_url,
            "acu_version": version,
            "acu_tenant": acu.tenant,
            "acu_client_id": acu.client_id,
            "acu_username": acu.username,
            **({"sf_pubsub": pair.pubsub_endpoint} if pair.pubsub_endpoint else {}),
        },
    )
    ws = admin.open_workspace(path)
    try:
        admin.set_credentials(ws, "salesforce", {"client_secret": SecretStr(pair.salesforce.client_secret)})
        admin.set_credentials(
            ws,
            "acumatica",
            {"client_secret": SecretStr(acu.client_secret), "password": SecretStr(acu.password)},
        )
    finally:
        ws.close()
    return path
