"""Fixtures: a Salesforce sandbox, an in-process HTTP client on it, and a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from sf_sandbox_helpers import MY_DOMAIN, Api, fetch_token

from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
def sandbox() -> SalesforceSandbox:
    return SalesforceSandbox(base_url=MY_DOMAIN)


@pytest.fixture
async def http(sandbox: SalesforceSandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=SandboxTransport(sandbox.app), base_url=MY_DOMAIN) as client:
        yield client


@pytest.fixture
async def auth(http: httpx2.AsyncClient, sandbox: SalesforceSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {await fetch_token(http, sandbox)}"}


@pytest.fixture
def api(http: httpx2.AsyncClient, auth: dict[str, str]) -> Api:
    return Api(http, auth)
