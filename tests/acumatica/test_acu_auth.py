"""The client's OAuth behaviour: renewal, rotation hand-off, dead refresh tokens, seats, logout."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import httpx2
import pytest
from pydantic import SecretStr

from ml_connector.acumatica import SeatsExhausted
from ml_connector.errors import AuthError
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox


class _Recording(httpx2.AsyncBaseTransport):
    """Passes requests to the sandbox and notes the token grants sent."""

    def __init__(self, sb: AcumaticaSandbox, events: list[tuple[str, str]]) -> None:
        self.inner = SandboxTransport(sb.app)
        self.events = events

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/identity/connect/token"):
            form = dict(parse_qsl((await request.aread()).decode()))
            self.events.append(("grant", form.get("refresh_token") or form["grant_type"]))
        return await self.inner.handle_async_request(request)


async def test_token_is_renewed_by_refresh_before_expiry_and_rotation_is_saved_before_reuse(
    make_client, sandbox
):
    events: list[tuple[str, str]] = []
    now = [0.0]

    async def save(token: str) -> None:
        events.append(("saved", token))

    client = make_client(transport=_Recording(sandbox, events), on_refresh_token=save, clock=lambda: now[0])
    await client.get("Customer", "C00001")
    now[0] += 3600 - 30  # inside the 60 s renewal margin
    await client.get("Customer", "C00001")
    now[0] += 3600 - 30
    await client.get("Customer", "C00001")
    assert client.auth.grants == {"password": 1, "refresh_token": 2}
    # every refresh token sent was saved by the callback before it was sent
    for i, (kind, value) in enumerate(events):
        if kind == "grant" and value != "password":
            assert ("saved", value) in events[:i]
    assert events[-1] == ("saved", client.auth.refresh_token)


async def test_dead_refresh_token_falls_back_to_one_password_grant(make_client):
    saved: list[str] = []

    async def save(token: str) -> None:
        saved.append(token)

    client = make_client(refresh_token=SecretStr("long-dead"), on_refresh_token=save)
    assert (await client.get("Customer", "C00001"))["CustomerID"] == "C00001"
    assert client.auth.grants == {"password": 1, "refresh_token": 1}
    assert saved == [client.auth.refresh_token]


async def test_refused_password_raises_auth_error_naming_the_fix(make_client):
    client = make_client(password=SecretStr("wrong"))
    with pytest.raises(AuthError) as caught:
        await client.get("Customer", "C00001")
    assert "password" in (caught.value.hint or "")
    assert client.auth.grants["password"] == 1  # not retried


async def test_wrong_client_secret_raises_auth_error(make_client):
    with pytest.raises(AuthError) as caught:
        await make_client(client_secret=SecretStr("nope")).get("Customer", "C00001")
    assert "GUID" in (caught.value.hint or "")


async def test_token_rejected_mid_flight_is_renewed_once_transparently(make_client, sandbox):
    sandbox.control.set_faults({"token_expiry_seconds": 5})  # tokens die long before their expires_in
    client = make_client()
    await client.get("Customer", "C00001")
    sandbox.control.clock.advance(10)
    sandbox.control.stats.reset()
    assert (await client.get("Customer", "C00002"))["CustomerID"] == "C00002"
    assert client.auth.grants == {"password": 1, "refresh_token": 1}
    assert sandbox.control.stats.statuses[401] == 1


async def test_close_signs_out_and_frees_the_seat(make_client, sandbox):
    client = make_client()
    await client.get("Customer", "C00001")
    assert sandbox.auth.seats_in_use() == 1
    await client.aclose()
    assert sandbox.auth.seats_in_use() == 0


async def test_seat_exhaustion_backs_off_and_succeeds_once_a_seat_frees(build_client):
    sb = AcumaticaSandbox(seat_limit=1)
    sb.seed()
    async with build_client(sb) as holder:
        await holder.get("Customer", "C00001")
        waiting = build_client(sb, retry_attempts=20)
        task = asyncio.create_task(waiting.get("Customer", "C00002"))
        await asyncio.sleep(0.1)
        assert not task.done()
        tries_while_blocked = waiting.auth.grants["password"]
        assert 1 <= tries_while_blocked < 20  # backing off, not a tight loop
    # the holder signed out on close: the waiting client gets the seat
    assert (await task)["CustomerID"] == "C00002"
    await waiting.aclose()


async def test_seat_exhaustion_gives_up_with_seats_exhausted_after_its_attempts(build_client):
    sb = AcumaticaSandbox(seat_limit=1)
    sb.seed()
    async with build_client(sb) as holder, build_client(sb, retry_attempts=3) as blocked:
        await holder.get("Customer", "C00001")
        with pytest.raises(SeatsExhausted) as caught:
            await blocked.get("Customer", "C00001")
        assert "seat" in (caught.value.hint or "")
        assert blocked.auth.grants["password"] == 3


async def test_redirect_to_error_page_is_not_followed_and_counts_as_seat_exhaustion(build_client):
    sb = AcumaticaSandbox(seat_limit=1)
    sb.seed()
    async with build_client(sb, retry_attempts=2) as idle:
        await idle.get("Customer", "C00001")
        sb.control.clock.advance(11 * 60)  # its session closes itself
        c = sb.credentials
        async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as raw:
            form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
                    "username": c.username, "password": c.password, "scope": "api"}  # fmt: skip
            assert (await raw.post("/AcumaticaERP/identity/connect/token", data=form)).status_code == 200
        sb.control.stats.reset()
        with pytest.raises(SeatsExhausted):
            await idle.get("Customer", "C00001")
        calls = sb.control.stats.snapshot()["calls"]
        assert not any("Error.aspx" in key for key in calls)  # never followed


async def test_login_limit_answered_as_500_is_also_recognised(build_client):
    sb = AcumaticaSandbox(seat_limit=0, login_limit_status=500)
    async with build_client(sb, retry_attempts=2) as client:
        with pytest.raises(SeatsExhausted):
            await client.get("Customer", "C00001")
        assert client.auth.grants["password"] == 2
