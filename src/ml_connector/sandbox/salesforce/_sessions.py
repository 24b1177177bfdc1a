"""OAuth sessions and the daily API allocation of the sandbox org (reference §1.2–1.4, §2.4, §7).

Access tokens are sessions with an idle timeout measured on the sandbox clock: every authenticated
call moves the idle window forward; a token idle for longer is gone and the next call gets
``401 INVALID_SESSION_ID``. The ``token_expiry_seconds`` fault additionally kills every token that
long after it was issued, idle or not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from ml_connector.sandbox._control import SandboxControl

__all__ = ["ApiAllocation", "Session", "SessionRegistry", "token_signature"]


@dataclass
class Session:
    """One issued access token."""

    access_token: str
    user_id: str
    issued_at: datetime
    last_used: datetime


def token_signature(client_secret: str, identity_url: str, issued_at_ms: str) -> str:
    """§1.2: base64 HMAC-SHA256 over ``id`` + ``issued_at``, keyed with the client secret."""
    digest = hmac.new(client_secret.encode(), (identity_url + issued_at_ms).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class SessionRegistry:
    """Issues tokens and checks them, expiring idle ones on the sandbox clock."""

    def __init__(self, control: SandboxControl, *, org_id: str, idle_timeout: float) -> None:
        self._control = control
        self._org_id = org_id
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def issue(self, user_id: str) -> Session:
        """A fresh session; the token looks like a real one: ``<org id 15>!<opaque>``."""
        now = self._control.clock.now()
        opaque = secrets.token_urlsafe(72).replace("-", ".").replace("_", ".")
        session = Session(f"{self._org_id[:15]}!{opaque}", user_id, now, now)
        with self._lock:
            self._sessions[session.access_token] = session
        return session

    def touch(self, access_token: str) -> Session | None:
        """The live session for ``access_token`` (its idle window restarted), or None if gone."""
        now = self._control.clock.now()
        with self._lock:
            session = self._sessions.get(access_token)
            if session is None:
                return None
            hard_limit = self._control.faults.token_expiry_seconds
            idle_for = (now - session.last_used).total_seconds()
            age = (now - session.issued_at).total_seconds()
            if idle_for > self.idle_timeout or (hard_limit is not None and age > float(hard_limit)):
                del self._sessions[access_token]
                return None
            session.last_used = now
            return session

    def revoke_all(self) -> None:
        """Forget every session (sandbox reset)."""
        with self._lock:
            self._sessions.clear()


class ApiAllocation:
    """Rolling 24-hour count of API requests against a daily allocation (§2.4, §7)."""

    def __init__(self, control: SandboxControl, daily_limit: int) -> None:
        self._control = control
        self.daily_limit = daily_limit
        self._lock = threading.Lock()
        self._calls: deque[datetime] = deque()

    def _prune(self, now: datetime) -> None:
        horizon = now - timedelta(hours=24)
        while self._calls and self._calls[0] <= horizon:
            self._calls.popleft()

    def used(self) -> int:
        """Requests counted in the last 24 hours."""
        with self._lock:
            self._prune(self._control.clock.now())
            return len(self._calls)

    def consume(self) -> bool:
        """Count one request; False (and not counted) once the allocation is used up."""
        now = self._control.clock.now()
        with self._lock:
            self._prune(now)
            if len(self._calls) >= self.daily_limit:
                return False
            self._calls.append(now)
            return True

    def set_used(self, count: int) -> None:
        """Pretend ``count`` requests happened just now (tests of the budget and the 403)."""
        now = self._control.clock.now()
        with self._lock:
            self._calls = deque([now] * count)

    def reset(self) -> None:
        """Forget every counted request."""
        with self._lock:
            self._calls.clear()
