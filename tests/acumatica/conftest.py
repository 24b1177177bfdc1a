"""Fixtures for the Acumatica client: a seeded sandbox and clients wired to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import stamina
from pydantic import SecretStr

from ml_connector.acumatica import AcumaticaClient
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox


@pytest.fixture(autouse=True)
def _real_retries() -> Iterator[None]:
    """These tests rely on real (tiny) retries: make sure no global stamina test mode is on."""
    with stamina.set_testing(False):
        yield


@pytest.fixture
def sandbox() -> AcumaticaSandbox:
    sb = AcumaticaSandbox(seat_limit=4)
    sb.seed()
    return sb


def client_for(sb: AcumaticaSandbox, **overrides: Any) -> AcumaticaClient:
    """A client of ``sb`` with tiny backoffs, so retries cost milliseconds in tests."""
    c = sb.credentials
    options: dict[str, Any] = {
        "instance_url": sb.instance_url,
        "endpoint_name": "Default",
        "endpoint_version": "24.200.001",
        "tenant": "Company",
        "client_id": c.client_id,
        "client_secret": SecretStr(c.client_secret),
        "username": c.username,
        "password": SecretStr(c.password),
        "backoff_initial": 0.002,
        "backoff_max": 0.02,
        "seat_backoff_initial": 0.01,
        "seat_backoff_max": 0.05,
        "poll_interval": 0.001,
    }
    options.update(overrides)
    if "http" not in options and "transport" not in options:
        options["transport"] = SandboxTransport(sb.app)
    return AcumaticaClient(**options)


@pytest.fixture
async def make_client(sandbox: AcumaticaSandbox) -> AsyncIterator[Callable[..., AcumaticaClient]]:
    made: list[AcumaticaClient] = []

    def make(sb: AcumaticaSandbox | None = None, **overrides: Any) -> AcumaticaClient:
        client = client_for(sb or sandbox, **overrides)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def client(make_client: Callable[..., AcumaticaClient]) -> AcumaticaClient:
    return make_client()


@pytest.fixture
def build_client() -> Callable[..., AcumaticaClient]:
    """``client_for`` for tests that build their own sandbox (the caller closes the client)."""
    return client_for
