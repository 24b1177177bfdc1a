"""Fixtures for the fake Acumatica: a seeded sandbox and a raw HTTP client into it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest
import stamina

from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox

BASE = "/AcumaticaERP/entity/Default/24.200.001"


@pytest.fixture(autouse=True)
def _real_retries() -> Iterator[None]:
    """These tests rely on real (tiny) retries: make sure no global stamina test mode is on."""
    with stamina.set_testing(False):
        yield


@pytest.fixture
def sandbox() -> AcumaticaSandbox:
    sb = AcumaticaSandbox(seat_limit=5)
    sb.seed()
    return sb


@pytest.fixture
async def http(sandbox: AcumaticaSandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        transport=SandboxTransport(sandbox.app), base_url=sandbox.base_url
    ) as client:
        yield client


def _password_form(sandbox: AcumaticaSandbox, **overrides: str) -> dict[str, str]:
    c = sandbox.credentials
    form = {
        "grant_type": "password",
        "client_id": c.client_id,
        "client_secret": c.client_secret,
        "username": c.username,
        "password": c.password,
        "scope": "api offline_access",
    }
    form.update(overrides)
    return form


@pytest.fixture
def password_form(sandbox: AcumaticaSandbox) -> Callable[..., dict[str, str]]:
    """The password-grant form for the sandbox's API user, with overrides."""
    return lambda **overrides: _password_form(sandbox, **overrides)


@pytest.fixture
def new_token(http: httpx2.AsyncClient, sandbox: AcumaticaSandbox) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Run a password grant and return the token response."""

    async def grant() -> dict[str, Any]:
        response = await http.post("/AcumaticaERP/identity/connect/token", data=_password_form(sandbox))
        assert response.status_code == 200, response.text
        return dict(response.json())

    return grant


@pytest.fixture
async def auth(new_token: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, str]:
    token = await new_token()
    return {"Authorization": f"Bearer {token['access_token']}"}
