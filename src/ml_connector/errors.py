"""One error tree for the whole connector, grouped by what the caller must do.

::

    ConnectorError                 root: anything ml-connector raises on purpose
    ├── Retryable                  network, timeouts, 5xx, 429: back off with jitter, try again
    │   └── RateLimited            429 / throttled; carries Retry-After when the server gave one
    ├── AuthError                  a fresh token was refused: stop the flow loudly, say what to fix
    ├── QuotaExhausted             Salesforce daily API allocation (or our budget of it) used up:
    │                              stop, never retry until the allocation recovers
    ├── RecordError                one record's data was refused (validation, unknown item, ...):
    │   │                          park that record with the message and go on with the rest
    │   └── NotFound               the record asked for does not exist
    ├── ConfigError                wrong endpoint version, missing field, bad config file:
    │                              fail fast, the message says how to fix it
    └── VaultError                 the master key is missing or wrong, or a credential is damaged
        └── (is a ConfigError: the fix is in the operator's hands)

Every error carries a one-line ``hint`` (how to fix it) next to its message; the CLI prints both.
Errors that came from an HTTP exchange keep the ``request`` and ``response`` they came from.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "NotFound",
    "QuotaExhausted",
    "RateLimited",
    "RecordError",
    "Retryable",
    "VaultError",
]


class ConnectorError(Exception):
    """Root of every error ml-connector raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        request: Any = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.request = request
        self.response = response

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class Retryable(ConnectorError):
    """A transient failure (network, timeout, 5xx, 429): back off with jitter and try again."""


class RateLimited(Retryable):
    """The server declined the request for load (429); ``retry_after`` in seconds when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Credentials were refused even after a fresh token: stop and tell the operator what to check."""


class QuotaExhausted(ConnectorError):
    """The Salesforce daily API allocation (or the configured share of it) is used up: do not retry."""


class RecordError(ConnectorError):
    """One record was refused for its data: park it with the reason and carry on with the others.

    ``field_errors`` maps a field path (``Details/0/InventoryID``, ``Name``) to the server's message.
    """

    def __init__(
        self,
        message: str,
        *,
        field_errors: dict[str, str] | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.field_errors = dict(field_errors or {})
        self.code = code


class NotFound(RecordError):
    """The record asked for does not exist (Acumatica's NoEntitySatisfiesTheCondition, SF 404)."""


class ConfigError(ConnectorError):
    """The set-up is wrong (config file, endpoint version, missing field): fail fast with the fix."""


class VaultError(ConfigError):
    """The master key is missing or wrong, or a stored credential does not belong where it is read."""
