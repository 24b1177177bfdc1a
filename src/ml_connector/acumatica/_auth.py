"""OAuth 2.0 for Acumatica's built-in identity server (§2 of shared/reference/acumatica-api.md).

* Resource-owner password grant with ``scope=api offline_access`` (no client credentials flow).
* The access token lives 3600 s; it is renewed ``refresh_margin`` seconds before it expires, by the
  refresh token. Refresh tokens **rotate**: the used one dies, so the new one is handed to
  ``on_refresh_token`` (the vault) *before* it is ever used again.
* A dead refresh token (``invalid_grant``: used, revoked, or its 30-day chain is over) -> one
  password grant -> otherwise :class:`AuthError` naming what to fix.
* Seat exhaustion (429, "API Login Limit" in the body, or a redirect to ``Error.aspx``, §2.3) is a
  :class:`SeatsExhausted` (a RateLimited): the caller backs off, never loops tightly.
* Shutdown signs out with the bearer token (frees the licence seat; revoking would not, §2.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
from pydantic import SecretStr

from ..errors import AuthError, ConfigError, RateLimited, Retryable
from ._values import loads

__all__ = ["AcumaticaAuth", "SeatsExhausted", "is_seat_exhaustion"]

SEAT_HINT = (
    "all Web Services API user seats of the licence are in use: sign out stale sessions (they also free "
    "themselves after 10 idle minutes) or raise the limit on SM604000"
)


class SeatsExhausted(RateLimited):
    """The licence's API-user seats are all taken ("API Login Limit"); back off for minutes."""


def is_seat_exhaustion(response: httpx2.Response) -> bool:
    """429 at sign-in, "API Login Limit" in a body, or a redirect to ``Error.aspx`` (§2.3)."""
    if 300 <= response.status_code < 400:
        return "error.aspx" in response.headers.get("location", "").lower()
    if response.status_code in (429, 500):
        return "api login limit" in response.text.lower()
    return False


class AcumaticaAuth:
    """Holds the tokens of one connection; :meth:`token` always returns a usable access token."""

    def __init__(
        self,
        *,
        instance_url: str,
        client_id: str,
        client_secret: SecretStr,
        username: str,
        password: SecretStr,
        refresh_token: SecretStr | None = None,
        on_refresh_token: Callable[[str], Awaitable[None]] | None = None,
        scope: str = "api offline_access",
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        before_request: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.username = username
        self._password = password
        self._refresh_token = refresh_token.get_secret_value() if refresh_token else None
        self._on_refresh_token = on_refresh_token
        self.scope = scope
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._before_request = before_request
        self._access: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.grants = {"password": 0, "refresh_token": 0}

    @property
    def token_url(self) -> str:
        """``<instance>/identity/connect/token``."""
        return f"{self.instance_url}/identity/connect/token"

    @property
    def refresh_token(self) -> str | None:
        """The current (latest rotated) refresh token."""
        return self._refresh_token

    async def token(self, http: httpx2.AsyncClient) -> str:
        """A valid access token, renewing it first when it is about to expire."""
        async with self._lock:
            if self._access is None or self._clock() >= self._expires_at - self.refresh_margin:
                await self._renew(http)
            assert self._access is not None
            return self._access

    async def after_unauthorized(self, http: httpx2.AsyncClient, rejected: str) -> str:
        """A 401 with ``rejected``: renew once (unless another task already did) and return the new one."""
        async with self._lock:
            if self._access == rejected or self._access is None:
                self._access = None
                await self._renew(http)
            assert self._access is not None
            return self._access

    async def _renew(self, http: httpx2.AsyncClient) -> None:
        if self._refresh_token:
            try:
                await self._grant(http, {"grant_type": "refresh_token", "refresh_token": self._refresh_token})
                return
            except _InvalidGrant:
                self._refresh_token = None  # dead: used, revoked or past its 30-day chain
        try:
            await self._grant(
                http,
                {
                    "grant_type": "password",
                    "username": self.username,
                    "password": self._password.get_secret_value(),
                    "scope": self.scope,
                },
            )
        except _InvalidGrant as exc:
            raise AuthError(
                f"Acumatica refused the password grant for API user {self.username!r} ({exc.args[0]})",
                hint=(
                    "check the user's password, that the user has API access and a licence, and that the "
                    "tenant after '@' in client_id is the user's tenant"
                ),
            ) from None

    async def _grant(self, http: httpx2.AsyncClient, form: dict[str, str]) -> None:
        body = {"client_id": self.client_id, "client_secret": self._client_secret.get_secret_value(), **form}
        if self._before_request is not None:
            await self._before_request()
        try:
            response = await http.post(self.token_url, data=body, follow_redirects=False)
        except httpx2.TransportError as exc:
            raise Retryable(f"Acumatica token endpoint unreachable: {exc!r}") from exc
        self.grants[form["grant_type"]] += 1
        if is_seat_exhaustion(response) or response.status_code == 429:
            raise SeatsExhausted(
                "Acumatica refused the sign-in: API Login Limit", hint=SEAT_HINT, response=response
            )
        if response.status_code == 404:
            raise ConfigError(
                f"no Acumatica token endpoint at {self.token_url}",
                hint="check the instance URL, including the instance path (e.g. https://host/AcumaticaERP)",
                response=response,
            )
        if response.status_code >= 500:
            raise Retryable(f"Acumatica token endpoint answered {response.status_code}", response=response)
        payload: Any = _json(response)
        if response.status_code == 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            if error == "invalid_grant":
                raise _InvalidGrant(payload.get("error_description") or "invalid_grant")
            if error == "invalid_client":
                raise AuthError(
                    "Acumatica refused the client id or secret (invalid_client)",
                    hint="client_id must be '<GUID>@<Tenant>' of a Connected Application (SM303010) with its secret",
                    response=response,
                )
            raise AuthError(f"Acumatica token endpoint: {error or response.text[:200]}", response=response)
        if response.status_code != 200 or not isinstance(payload, dict) or "access_token" not in payload:
            raise AuthError(f"unexpected token response {response.status_code}", response=response)
        self._access = str(payload["access_token"])
        self._expires_at = self._clock() + float(payload.get("expires_in", 3600))
        new_refresh = payload.get("refresh_token")
        if new_refresh:
            self._refresh_token = str(new_refresh)
            if self._on_refresh_token is not None:
                # Rotation: the old token is dead now; persist the new one before anything can use it.
                await self._on_refresh_token(self._refresh_token)

    async def logout(self, http: httpx2.AsyncClient) -> None:
        """Sign out with the bearer token (frees the seat); a no-op without a token."""
        async with self._lock:
            if self._access is None:
                return
            token, self._access = self._access, None
        with contextlib.suppress(httpx2.TransportError):  # else the seat frees itself in 10 minutes
            await http.post(
                f"{self.instance_url}/entity/auth/logout",
                headers={"Authorization": f"Bearer {token}"},
                follow_redirects=False,
            )


class _InvalidGrant(Exception):
    pass


def _json(response: httpx2.Response) -> Any:
    try:
        return loads(response.content)
    except ValueError:
        return None
