"""Fixtures: a Salesforce sandbox and a SalesforceClient wired to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from pydantic import SecretStr

from ml_connector.salesforce import SalesforceClient
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.salesforce import SalesforceSandbox

MY_DOMAIN = "https://acme.my.salesforce.com"


@pytest.fixture
def sandbox() -> SalesforceSandbox:
    return SalesforceSandbox(base_url=MY_DOMAIN)


@pytest.fixture
async def client(sandbox: SalesforceSandbox) -> AsyncIterator[SalesforceClient]:
    async with SalesforceClient(
        login_url=MY_DOMAIN,
        client_id=sandbox.client_id,
        client_secret=SecretStr(sandbox.client_secret),
        transport=SandboxTransport(sandbox.app),
        retry_wait_initial=0.001,  # keep retries fast in tests
        retry_wait_max=0.01,
    ) as sf:
        yield sf


@pytest.fixture
async def http(sandbox: SalesforceSandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=SandboxTransport(sandbox.app), base_url=MY_DOMAIN) as raw:
        yield raw
