"""Token manager: My Domain token, one refresh for concurrent callers, AuthError on a refused fresh token."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from pydantic import SecretStr

from ml_connector.errors import AuthError
from ml_connector.salesforce import SalesforceClient
from ml_connector.salesforce._auth import TokenManager
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.salesforce import SalesforceSandbox

MY_DOMAIN = "https://acme.my.salesforce.com"


async def test_token_comes_from_my_domain_and_gives_instance_and_org(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    sandbox.base_url = "https://acme--instance.my.salesforce.com"
    token = await client.token()
    assert client.tokens.token_url == f"{MY_DOMAIN}/services/oauth2/token"
    assert token.instance_url == "https://acme--instance.my.salesforce.com"
    assert (token.org_id, token.user_id) == (sandbox.org_id, sandbox.user_id)
    await client.limits()  # REST calls go to the instance URL: the sandbox app answers any host
    assert client.tokens.fetches == 1


async def test_concurrent_callers_share_one_refresh_after_expiry(
    client: SalesforceClient, sandbox: SalesforceSandbox
) -> None:
    sandbox.insert_records("Account", [{"Name": "a"}])
    await client.limits()
    sandbox.control.clock.advance(7201)
    results = await asyncio.gather(
        *(client.get("Account", sandbox.records("Account")[0]["Id"]) for _ in range(10))
    )
    assert {r["Name"] for r in results} == {"a"}
    assert client.tokens.fetches == 2


async def test_wrong_secret_is_auth_error_with_hint(sandbox: SalesforceSandbox) -> None:
    async with SalesforceClient(
        login_url=MY_DOMAIN,
        client_id=sandbox.client_id,
        client_secret="wrong",
        transport=SandboxTransport(sandbox.app),
    ) as client:
        with pytest.raises(AuthError) as caught:
            await client.limits()
    assert "invalid_client" in caught.value.message and "client_secret" in (caught.value.hint or "")


async def test_login_host_is_refused_with_my_domain_hint(sandbox: SalesforceSandbox) -> None:
    async with SalesforceClient(
        login_url="https://login.salesforce.com",
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        transport=SandboxTransport(sandbox.app),
    ) as client:
        with pytest.raises(AuthError) as caught:
            await client.limits()
    assert "My Domain" in (caught.value.hint or "")


async def test_401_right_after_a_fresh_token_is_auth_error() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/oauth2/token"):
            body = {
                "access_token": f"00D!{len(calls)}",
                "instance_url": MY_DOMAIN,
                "id": "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": "1700000000000",
            }
            return httpx2.Response(200, json=body)
        return httpx2.Response(
            401,
            content=json.dumps(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            ),
        )

    async with SalesforceClient(
        login_url=MY_DOMAIN, client_id="id", client_secret="s", transport=httpx2.MockTransport(handler)
    ) as client:
        with pytest.raises(AuthError) as caught:
            await client.limits()
    assert "freshly issued" in caught.value.message and "API Enabled" in (caught.value.hint or "")
    assert calls.count("/services/oauth2/token") == 2  # first token, then exactly one refresh
    assert calls.count("/services/data/v62.0/limits") == 2  # original + one resend, no loop


async def test_proactive_renewal_after_the_session_timeout(sandbox: SalesforceSandbox) -> None:
    now = [1000.0]
    async with httpx2.AsyncClient(transport=SandboxTransport(sandbox.app)) as http:
        tokens = TokenManager(
            http,
            login_url=MY_DOMAIN,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            session_timeout=600,
            monotonic=lambda: now[0],
        )
        first = await tokens.current()
        now[0] += 300
        assert await tokens.current() is first
        tokens.touch()
        now[0] += 580  # 580 s idle >= 95 % of 600 s
        renewed = await tokens.current()
    assert renewed is not first and tokens.fetches == 2


async def test_client_secret_accepts_secretstr(sandbox: SalesforceSandbox) -> None:
    async with SalesforceClient(
        login_url=MY_DOMAIN,
        client_id=sandbox.client_id,
        client_secret=SecretStr(sandbox.client_secret),
        transport=SandboxTransport(sandbox.app),
    ) as client:
        assert "DailyApiRequests" in await client.limits()
