"""OAuth 2.0 client credentials for Salesforce, as an httpx2 auth flow (reference §1).

The flow has no refresh token and the response carries no ``expires_in`` (§1.2): a session lives
until it has been idle for the org's timeout. So the token manager reacts to
``401 INVALID_SESSION_ID`` by fetching a new token — once for all concurrent callers, under a lock —
and resending; a 401 on the resend means the fresh token itself is refused, which no retry fixes
(:class:`~ml_connector.errors.AuthError`). Optionally it renews proactively when the connection has
been idle for the configured session timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2

from ml_connector.errors import AuthError, Retryable
from ml_connector.salesforce._errors import error_items, token_error

__all__ = ["SalesforceAuth", "SalesforceToken", "TokenManager"]


@dataclass(frozen=True)
class SalesforceToken:
    """One access token and what came with it."""

    access_token: str
    instance_url: str
    org_id: str
    user_id: str
    issued_at_ms: int


class TokenManager:
    """Fetches client-credentials tokens from the My Domain token URL and hands out the current one."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        login_url: str,
        client_id: str,
        client_secret: str,
        session_timeout: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self.token_url = login_url.rstrip("/") + "/services/oauth2/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._session_timeout = session_timeout
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._token: SalesforceToken | None = None
        self._last_used = 0.0
        self.fetches = 0  # how many tokens were requested (observability and tests)

    @property
    def token(self) -> SalesforceToken | None:
        """The token in use, if any."""
        return self._token

    def touch(self) -> None:
        """Note a successful call: the server restarted the session's idle window."""
        self._last_used = self._monotonic()

    def _idle_out(self) -> bool:
        if self._session_timeout is None or self._token is None:
            return False
        # Renew a little before the org would: 5 % of the timeout as a margin.
        return self._monotonic() - self._last_used >= self._session_timeout * 0.95

    async def current(self) -> SalesforceToken:
        """The token to use now (fetching one if there is none or it has idled out)."""
        token = self._token
        if token is not None and not self._idle_out():
            return token
        return await self.renew(token)

    async def renew(self, stale: SalesforceToken | None) -> SalesforceToken:
        """Replace ``stale`` with a new token; concurrent callers with the same stale token share one fetch."""
        async with self._lock:
            if self._token is None or self._token is stale or self._idle_out():
                self._token = await self._fetch()
                self.touch()
            return self._token

    async def _fetch(self) -> SalesforceToken:
        self.fetches += 1
        try:
            response = await self._http.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
                headers={"Accept": "application/json"},
            )
        except httpx2.TransportError as exc:
            raise Retryable(f"could not reach the Salesforce token endpoint {self.token_url}: {exc}") from exc
        if response.status_code >= 500:
            raise Retryable(f"Salesforce token endpoint answered {response.status_code}", response=response)
        if response.status_code != 200:
            raise token_error(response)
        body = response.json()
        identity = urlsplit(str(body.get("id", ""))).path.rstrip("/").split("/")
        org_id, user_id = (identity[-2], identity[-1]) if len(identity) >= 2 else ("", "")
        return SalesforceToken(
            access_token=str(body["access_token"]),
            instance_url=str(body["instance_url"]).rstrip("/"),
            org_id=org_id,
            user_id=user_id,
            issued_at_ms=int(body.get("issued_at") or 0),
        )


def is_invalid_session(response: httpx2.Response) -> bool:
    """True for §1.4's ``401 [{"errorCode": "INVALID_SESSION_ID", …}]``."""
    if response.status_code != 401:
        return False
    return any(item.get("errorCode") == "INVALID_SESSION_ID" for item in error_items(response))


class SalesforceAuth(httpx2.Auth):
    """Bearer token on every request; on INVALID_SESSION_ID one fresh token and one resend."""

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Authorise, and re-authorise once after an expired session."""
        token = await self.tokens.current()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code == 401:
            await response.aread()  # overriding async_auth_flow means reading the body ourselves
        if not is_invalid_session(response):
            if response.status_code < 400:
                self.tokens.touch()
            return
        fresh = await self.tokens.renew(token)
        request.headers["Authorization"] = f"Bearer {fresh.access_token}"
        response = yield request
        if response.status_code == 401:
            await response.aread()
            raise AuthError(
                "Salesforce refused a freshly issued access token (401 INVALID_SESSION_ID)",
                hint=(
                    "check that the app's Run As user is active and has 'API Enabled', that the app's IP "
                    "relaxation / session policies allow this host, and that login_url is the org's My Domain"
                ),
                request=request,
                response=response,
            )
        if response.status_code < 400:
            self.tokens.touch()
