"""OAuth token endpoint, session idle timeout and versions (reference §1, §2.1)."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn
from sf_sandbox_helpers import MY_DOMAIN, V, fetch_token

from ml_connector.sandbox.salesforce import SalesforceSandbox
from ml_connector.sandbox.salesforce._ids import is_valid_id

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}]


async def test_token_response_has_the_client_credentials_shape(
    http: httpx2.AsyncClient, sandbox: SalesforceSandbox
) -> None:
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {
        "access_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    }
    assert "expires_in" not in body and "refresh_token" not in body
    assert body["access_token"].startswith(sandbox.org_id[:15] + "!")
    assert body["instance_url"] == MY_DOMAIN
    assert body["token_type"] == "Bearer"
    assert isinstance(body["issued_at"], str) and body["issued_at"].isdigit() and len(body["issued_at"]) == 13
    org_id, user_id = body["id"].rsplit("/", 2)[-2:]
    assert body["id"].startswith("https://login.salesforce.com/id/")
    assert org_id == sandbox.org_id and org_id.startswith("00D") and is_valid_id(org_id)
    assert user_id == sandbox.user_id and user_id.startswith("005")


async def test_token_accepts_basic_credentials(http: httpx2.AsyncClient, sandbox: SalesforceSandbox) -> None:
    basic = base64.b64encode(f"{sandbox.client_id}:{sandbox.client_secret}".encode()).decode()
    response = await http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({"client_id": "nope"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "nope"}, "invalid_client", "invalid client credentials"),
        ({"grant_type": "password"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
async def test_token_errors_are_400_oauth_objects(
    http: httpx2.AsyncClient, sandbox: SalesforceSandbox, change: dict[str, str], error: str, description: str
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
    }
    response = await http.post("/services/oauth2/token", data={**form, **change})
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


async def test_token_on_login_host_is_refused(sandbox: SalesforceSandbox) -> None:
    from ml_connector.sandbox._control import SandboxTransport

    async with httpx2.AsyncClient(
        transport=SandboxTransport(sandbox.app), base_url="https://login.salesforce.com"
    ) as c:
        response = await c.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
            },
        )
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "request not supported on this domain",
    }


async def test_idle_session_expires_with_the_documented_401(
    http: httpx2.AsyncClient, sandbox: SalesforceSandbox, auth: dict[str, str]
) -> None:
    assert (await http.get(f"{V}/limits", headers=auth)).status_code == 200
    sandbox.control.clock.advance(7200 + 1)
    response = await http.get(f"{V}/limits", headers=auth)
    assert response.status_code == 401
    assert response.json() == INVALID_SESSION


async def test_each_call_extends_the_idle_window(
    http: httpx2.AsyncClient, sandbox: SalesforceSandbox, auth: dict[str, str]
) -> None:
    for _ in range(3):
        sandbox.control.clock.advance(5000)  # 15,000 s in all, never 7,200 s idle
        assert (await http.get(f"{V}/limits", headers=auth)).status_code == 200


async def test_token_expiry_fault_kills_tokens_regardless_of_use(
    http: httpx2.AsyncClient, sandbox: SalesforceSandbox, auth: dict[str, str]
) -> None:
    sandbox.control.set_faults({"token_expiry_seconds": 60})
    sandbox.control.clock.advance(30)
    assert (await http.get(f"{V}/limits", headers=auth)).status_code == 200
    sandbox.control.clock.advance(31)
    assert (await http.get(f"{V}/limits", headers=auth)).status_code == 401


async def test_missing_or_unknown_token_is_invalid_session(http: httpx2.AsyncClient) -> None:
    assert (await http.get(f"{V}/limits")).json() == INVALID_SESSION
    response = await http.get(f"{V}/limits", headers={"Authorization": "Bearer 00Dxx!forged"})
    assert response.status_code == 401


async def test_versions_list_oldest_first_without_auth(http: httpx2.AsyncClient) -> None:
    response = await http.get("/services/data/")
    versions = response.json()
    assert response.status_code == 200
    assert [v["version"] for v in versions] == ["58.0", "59.0", "60.0", "61.0", "62.0"]
    assert versions[-1] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}
    assert "sforce-limit-info" not in response.headers


async def test_unsupported_version_is_404_not_found(http: httpx2.AsyncClient, auth: dict[str, str]) -> None:
    response = await http.get("/services/data/v30.0/limits", headers=auth)
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"
    assert (await http.get(f"{V}/", headers=auth)).json()["query"] == f"{V}/query"


@pytest.fixture
def served_sandbox() -> Iterator[SalesforceSandbox]:
    """The sandbox on a real loopback socket (uvicorn in a thread, port chosen by the OS)."""
    sandbox = SalesforceSandbox()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sandbox.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(sandbox.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield sandbox
    server.should_exit = True
    thread.join(5)


async def test_token_over_real_loopback(served_sandbox: SalesforceSandbox) -> None:
    async with httpx2.AsyncClient(base_url=served_sandbox.base_url) as http:
        token = await fetch_token(http, served_sandbox)
        response = await http.get(f"{V}/limits", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
