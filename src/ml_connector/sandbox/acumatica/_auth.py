"""Sign-in of the fake: OAuth 2.0 (password and refresh_token grants), cookie login, API-user seats.

§2 of shared/reference/acumatica-api.md:

* ``POST /identity/connect/token``: client id ``<GUID>@<Tenant>`` (the tenant must exist), scopes
  ``api offline_access``, access tokens of 3600 s, refresh tokens that rotate (the used one dies) and
  whose chain dies 30 days after the first sign-in; IdentityServer error bodies (``invalid_grant``,
  ``invalid_client``, ``unsupported_grant_type``, ``invalid_scope``), all 400.
* ``POST /entity/auth/login`` (``tenant`` or ``company``) -> 204 + ``.ASPXAUTH``/``ASP.NET_SessionId``.
* Every grant and every cookie login holds one "Web Services API User" seat (§2.3); over the limit the
  sign-in answers 429 with "API Login Limit" in the body. A seat frees on logout or after 10 idle
  minutes of sandbox clock. Refreshes reuse the grant's session (``api`` without
  ``api:concurrent_access``).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._control import SandboxControl

__all__ = ["AuthOutcome", "Credentials", "SeatAuthority", "Session"]

ACCESS_TOKEN_SECONDS = 3600
REFRESH_CHAIN = timedelta(days=30)
IDLE_TIMEOUT = timedelta(minutes=10)
KNOWN_SCOPES = {"api", "offline_access", "api:concurrent_access", "openid", "email", "profile"}
LOGIN_LIMIT_TEXT = (
    "API Login Limit: the maximum number of Web Services API users allowed by the license has been "
    "reached. Sign out with the old session, wait, or restart the site."
)


@dataclass(frozen=True)
class Credentials:
    """What the fake accepts: one connected application and one API user, valid in every tenant."""

    tenant: str
    client_guid: str
    client_secret: str
    username: str
    password: str

    @property
    def client_id(self) -> str:
        """``<GUID>@<Tenant>`` as registered on SM303010 (§2.1)."""
        return f"{self.client_guid}@{self.tenant}"

    def as_dict(self) -> dict[str, str]:
        """The credentials as printed by ``ml-connector sandbox``."""
        return {
            "tenant": self.tenant,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "username": self.username,
            "password": self.password,
        }


@dataclass
class Session:
    """One API session: holds a licence seat until logout or 10 idle minutes."""

    sid: str
    tenant: str
    username: str
    last_seen: datetime
    open: bool = True


@dataclass
class _Grant:
    tenant: str
    username: str
    scopes: frozenset[str]
    chain_expires: datetime
    session: Session | None = None


@dataclass
class _AccessToken:
    grant: _Grant | None
    session: Session
    expires: datetime
    scopes: frozenset[str]


@dataclass
class AuthOutcome:
    """The answer of a sign-in endpoint: status, JSON or text body, cookies to set."""

    status: int
    body: Any = None
    text: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    location: str | None = None


class SeatAuthority:
    """Tokens, cookie sessions and the licence's API-user seats."""

    def __init__(
        self,
        control: SandboxControl,
        credentials: Credentials,
        tenants: tuple[str, ...],
        *,
        seat_limit: int | None = 2,
        login_limit_status: int = 429,
    ) -> None:
        self.control = control
        self.credentials = credentials
        self.tenants = {t.lower(): t for t in tenants}
        self.seat_limit = seat_limit
        # 429 is documented; 500 (KB) and 302 to Error.aspx (FG) were observed (§2.3).
        self.login_limit_status = login_limit_status
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every session and token."""
        self._sessions: dict[str, Session] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _Grant] = {}
        self._cookies: dict[str, Session] = {}

    # --- seats ------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.control.clock.now()

    def _sweep(self) -> None:
        now = self._now()
        for session in self._sessions.values():
            if session.open and now - session.last_seen > IDLE_TIMEOUT:
                session.open = False  # an abandoned session closes itself after 10 minutes (§2.2)

    def seats_in_use(self) -> int:
        """Open sessions, after closing the idle ones."""
        with self._lock:
            self._sweep()
            return sum(1 for s in self._sessions.values() if s.open)

    def _open_session(self, tenant: str, username: str) -> Session | None:
        self._sweep()
        if (
            self.seat_limit is not None
            and sum(1 for s in self._sessions.values() if s.open) >= self.seat_limit
        ):
            return None
        session = Session(str(uuid.uuid4()), tenant, username, self._now())
        self._sessions[session.sid] = session
        return session

    def _limit_outcome(self) -> AuthOutcome:
        if self.login_limit_status == 302:
            return AuthOutcome(302, location=_error_page())
        return AuthOutcome(self.login_limit_status, text=LOGIN_LIMIT_TEXT)

    # --- OAuth ------------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> AuthOutcome:
        """``POST /identity/connect/token``."""
        with self._lock:
            client_id = form.get("client_id", "")
            guid, _, tenant = client_id.partition("@")
            if (
                guid.lower() != self.credentials.client_guid.lower()
                or tenant.lower() not in self.tenants
                or form.get("client_secret") != self.credentials.client_secret
            ):
                return _oauth_error("invalid_client")
            tenant = self.tenants[tenant.lower()]
            grant_type = form.get("grant_type")
            if grant_type == "password":
                return self._password_grant(form, tenant)
            if grant_type == "refresh_token":
                return self._refresh_grant(form, tenant)
            return _oauth_error("unsupported_grant_type")  # no client_credentials (§2.1)

    def _password_grant(self, form: dict[str, str], tenant: str) -> AuthOutcome:
        if (
            form.get("username") != self.credentials.username
            or form.get("password") != self.credentials.password
        ):
            return _oauth_error("invalid_grant", "invalid_username_or_password")
        scopes = frozenset(form.get("scope", "").split())
        if not scopes or not scopes <= KNOWN_SCOPES:
            return _oauth_error("invalid_scope")
        session = self._open_session(tenant, form["username"])
        if session is None:
            return self._limit_outcome()
        grant = _Grant(tenant, form["username"], scopes, self._now() + REFRESH_CHAIN, session)
        return self._issue(grant, session)

    def _refresh_grant(self, form: dict[str, str], tenant: str) -> AuthOutcome:
        grant = self._refresh.pop(form.get("refresh_token", ""), None)  # rotation: the used one dies
        if grant is None or grant.tenant != tenant or self._now() >= grant.chain_expires:
            return _oauth_error("invalid_grant")
        self._sweep()
        session = grant.session
        if session is None or not session.open:
            session = self._open_session(tenant, grant.username)
            if session is None:
                return self._limit_outcome()
            grant.session = session
        session.last_seen = self._now()
        return self._issue(grant, session)

    def _issue(self, grant: _Grant, session: Session) -> AuthOutcome:
        lifetime = self.control.faults.token_expiry_seconds or ACCESS_TOKEN_SECONDS
        access = secrets.token_urlsafe(24)
        self._access[access] = _AccessToken(
            grant, session, self._now() + timedelta(seconds=lifetime), grant.scopes
        )
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
            "scope": " ".join(sorted(grant.scopes)),
        }
        if "offline_access" in grant.scopes:
            refresh = secrets.token_urlsafe(24)
            self._refresh[refresh] = grant
            body["refresh_token"] = refresh
        return AuthOutcome(200, body)

    def revoke(self, form: dict[str, str]) -> AuthOutcome:
        """``POST /identity/connect/revocation``: kills a token but does not end the session (FG)."""
        with self._lock:
            token = form.get("token", "")
            self._refresh.pop(token, None)
            self._access.pop(token, None)
            return AuthOutcome(200)

    # --- cookie login -----------------------------------------------------------------------------

    def login(self, body: dict[str, Any]) -> AuthOutcome:
        """``POST /entity/auth/login`` accepting ``tenant`` or the older ``company`` (§2.2)."""
        with self._lock:
            tenant = body.get("tenant") or body.get("company")
            if not tenant and len(self.tenants) == 1:
                tenant = next(iter(self.tenants.values()))
            if not tenant:
                return AuthOutcome(
                    500,
                    {
                        "message": "An error has occurred.",
                        "exceptionMessage": "proper company id cannot be determined",
                    },
                )
            if (
                str(tenant).lower() not in self.tenants
                or body.get("name") != self.credentials.username
                or body.get("password") != self.credentials.password
            ):
                return AuthOutcome(400, {"message": "Invalid credentials. Please try again."})
            session = self._open_session(self.tenants[str(tenant).lower()], str(body["name"]))
            if session is None:
                return self._limit_outcome()
            auth = secrets.token_urlsafe(24)
            self._cookies[auth] = session
            return AuthOutcome(204, cookies={".ASPXAUTH": auth, "ASP.NET_SessionId": session.sid})

    def logout(self, bearer: str | None, cookie: str | None) -> AuthOutcome:
        """``POST /entity/auth/logout``: frees the seat; the token or cookie stops working."""
        with self._lock:
            session: Session | None = None
            if bearer and bearer in self._access:
                session = self._access.pop(bearer).session
            elif cookie and cookie in self._cookies:
                session = self._cookies.pop(cookie)
            if session is not None:
                session.open = False
            return AuthOutcome(204)

    # --- data calls -------------------------------------------------------------------------------

    def authenticate(self, bearer: str | None, cookie: str | None) -> tuple[str | None, AuthOutcome | None]:
        """The tenant of a data call, or the refusal (401, or 302 to Error.aspx when no seat is left)."""
        with self._lock:
            now = self._now()
            if bearer:
                token = self._access.get(bearer)
                if token is None or now >= token.expires or "api" not in token.scopes:
                    return None, AuthOutcome(
                        401, {"message": "Authorization has been denied for this request."}
                    )
                self._sweep()
                if not token.session.open:
                    # The session behind a still-valid token timed out: it needs a seat again. Over the
                    # cap, one field guide saw a 302 to Error.aspx instead of JSON (§2.3) [Obs: FG].
                    session = self._open_session(token.session.tenant, token.session.username)
                    if session is None:
                        return None, AuthOutcome(302, location=_error_page())
                    token.session = session
                    if token.grant is not None:
                        token.grant.session = session
                token.session.last_seen = now
                return token.session.tenant, None
            if cookie and cookie in self._cookies:
                session = self._cookies[cookie]
                self._sweep()
                if not session.open:
                    del self._cookies[cookie]
                    return None, AuthOutcome(401, {"message": "You are not logged in."})
                session.last_seen = now
                return session.tenant, None
            return None, AuthOutcome(401, {"message": "Authorization has been denied for this request."})


def _oauth_error(error: str, description: str | None = None) -> AuthOutcome:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return AuthOutcome(400, body)


def _error_page() -> str:
    return "/Frames/Error.aspx?exceptionID=PX.Data.PXException&message=The+number+of+concurrent+API+logins+for+the+user+has+been+reached."
