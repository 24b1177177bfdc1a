"""OAuth, cookie sign-in and licence seats of the fake (§2 of the reference)."""

from __future__ import annotations

import httpx2

from ml_connector.sandbox.acumatica import AcumaticaSandbox

TOKEN = "/AcumaticaERP/identity/connect/token"
BASE = "/AcumaticaERP/entity/Default/24.200.001"


async def test_password_grant_returns_bearer_token_of_3600_seconds_with_refresh_token(http, password_form):
    response = await http.post(TOKEN, data=password_form())
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"api", "offline_access"}
    assert body["refresh_token"]


async def test_without_offline_access_no_refresh_token_is_issued(http, password_form):
    body = (await http.post(TOKEN, data=password_form(scope="api"))).json()
    assert "refresh_token" not in body


async def test_client_id_for_unknown_tenant_is_invalid_client(http, password_form, sandbox):
    guid = sandbox.credentials.client_guid
    response = await http.post(TOKEN, data=password_form(client_id=f"{guid}@Nowhere"))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


async def test_wrong_password_is_invalid_grant(http, password_form):
    response = await http.post(TOKEN, data=password_form(password="nope"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_client_credentials_grant_is_unsupported(http, password_form):
    response = await http.post(TOKEN, data=password_form(grant_type="client_credentials"))
    assert response.json()["error"] == "unsupported_grant_type"


async def test_refresh_token_rotates_and_the_used_one_dies(http, password_form, new_token):
    first = await new_token()
    form = password_form(grant_type="refresh_token", refresh_token=first["refresh_token"])
    second = await http.post(TOKEN, data=form)
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = await http.post(TOKEN, data=form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_refresh_chain_expires_30_days_after_first_sign_in(http, password_form, new_token, sandbox):
    token = (await new_token())["refresh_token"]
    for _ in range(3):  # keep refreshing within the chain: fine
        sandbox.control.clock.advance(9 * 86400)
        response = await http.post(TOKEN, data=password_form(grant_type="refresh_token", refresh_token=token))
        assert response.status_code == 200
        token = response.json()["refresh_token"]
    sandbox.control.clock.advance(4 * 86400)  # day 31
    response = await http.post(TOKEN, data=password_form(grant_type="refresh_token", refresh_token=token))
    assert response.json()["error"] == "invalid_grant"


async def test_access_token_is_refused_after_an_hour(http, auth, sandbox):
    assert (await http.get(f"{BASE}/StockItem", headers=auth)).status_code == 200
    sandbox.control.clock.advance(3601)
    assert (await http.get(f"{BASE}/StockItem", headers=auth)).status_code == 401


async def test_token_expiry_fault_kills_tokens_early(http, new_token, sandbox):
    sandbox.control.set_faults({"token_expiry_seconds": 30})
    token = await new_token()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    sandbox.control.clock.advance(31)
    assert (await http.get(f"{BASE}/StockItem", headers=headers)).status_code == 401


async def test_cookie_login_accepts_tenant_or_company_and_logout_ends_the_session(http, sandbox):
    c = sandbox.credentials
    for tenant_field in ("tenant", "company"):
        login = await http.post(
            "/AcumaticaERP/entity/auth/login",
            json={"name": c.username, "password": c.password, tenant_field: "Company"},
        )
        assert login.status_code == 204
        assert ".ASPXAUTH" in login.cookies and "ASP.NET_SessionId" in login.cookies
        cookies = {"Cookie": f".ASPXAUTH={login.cookies['.ASPXAUTH']}"}
        http.cookies.clear()
        assert (await http.get(f"{BASE}/Customer/C00001", headers=cookies)).status_code == 200
        assert (await http.post("/AcumaticaERP/entity/auth/logout", headers=cookies)).status_code == 204
        assert (await http.get(f"{BASE}/Customer/C00001", headers=cookies)).status_code == 401


async def test_logout_with_bearer_token_invalidates_it(http, auth):
    assert (await http.post("/AcumaticaERP/entity/auth/logout", headers=auth)).status_code == 204
    assert (await http.get(f"{BASE}/StockItem", headers=auth)).status_code == 401


async def _seat_limited() -> tuple[AcumaticaSandbox, httpx2.AsyncClient]:
    from ml_connector.sandbox._control import SandboxTransport

    sb = AcumaticaSandbox(seat_limit=2)
    return sb, httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url)


def _form(sb: AcumaticaSandbox) -> dict[str, str]:
    c = sb.credentials
    return {
        "grant_type": "password",
        "client_id": c.client_id,
        "client_secret": c.client_secret,
        "username": c.username,
        "password": c.password,
        "scope": "api offline_access",
    }


async def test_seat_limit_answers_429_api_login_limit_until_a_seat_is_freed_by_logout():
    sb, http = await _seat_limited()
    async with http:
        tokens = [(await http.post(TOKEN, data=_form(sb))).json()["access_token"] for _ in range(2)]
        over = await http.post(TOKEN, data=_form(sb))
        assert over.status_code == 429
        assert "API Login Limit" in over.text
        cookie_login = await http.post(
            "/AcumaticaERP/entity/auth/login",
            json={"name": sb.credentials.username, "password": sb.credentials.password, "tenant": "Company"},
        )
        assert cookie_login.status_code == 429
        await http.post("/AcumaticaERP/entity/auth/logout", headers={"Authorization": f"Bearer {tokens[0]}"})
        assert (await http.post(TOKEN, data=_form(sb))).status_code == 200


async def test_seats_free_themselves_after_ten_idle_minutes():
    sb, http = await _seat_limited()
    async with http:
        for _ in range(2):
            await http.post(TOKEN, data=_form(sb))
        assert (await http.post(TOKEN, data=_form(sb))).status_code == 429
        sb.control.clock.advance(9 * 60)
        assert (await http.post(TOKEN, data=_form(sb))).status_code == 429
        sb.control.clock.advance(61 + 60)
        assert sb.auth.seats_in_use() == 0
        assert (await http.post(TOKEN, data=_form(sb))).status_code == 200


async def test_refresh_reuses_the_grants_session_and_takes_no_new_seat():
    sb, http = await _seat_limited()
    async with http:
        first = (await http.post(TOKEN, data=_form(sb))).json()
        form = {**_form(sb), "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        assert (await http.post(TOKEN, data=form)).status_code == 200
        assert sb.auth.seats_in_use() == 1


async def test_timed_out_session_with_no_seat_left_redirects_to_error_page():
    sb, http = await _seat_limited()
    async with http:
        idle = (await http.post(TOKEN, data=_form(sb))).json()["access_token"]
        sb.control.clock.advance(11 * 60)  # the session of `idle` closes itself
        for _ in range(2):
            await http.post(TOKEN, data=_form(sb))
        response = await http.get(f"{BASE}/StockItem", headers={"Authorization": f"Bearer {idle}"})
        assert response.status_code == 302
        assert "/AcumaticaERP/Frames/Error.aspx" in response.headers["location"]
