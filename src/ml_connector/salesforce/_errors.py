"""Salesforce wire errors mapped onto the connector's error tree (reference §1.3, §2.3, §4.3).

REST errors are a JSON array of ``{"message", "errorCode", "fields"}`` (some pages print a bare
object — both are accepted); per-record results of collections use ``statusCode``; the token
endpoint answers ``{"error", "error_description"}``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from ml_connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    NotFound,
    QuotaExhausted,
    RateLimited,
    RecordError,
    Retryable,
)

__all__ = ["error_from_response", "error_items", "record_error", "token_error"]

_QUERY_CODES = frozenset(
    {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "INVALID_QUERY_FILTER_OPERATOR"}
)

_TOKEN_HINTS = {
    "invalid_client_id": "check client_id (the consumer key); a just-created app can take a few minutes to work",
    "invalid_client": "check client_secret (the consumer secret)",
    "unsupported_grant_type": "enable the Client Credentials Flow on the connected / external client app",
}


def error_items(response: httpx2.Response) -> list[dict[str, Any]]:
    """The error objects of a response body (array or bare object), or one synthesised item."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return [{"message": response.text[:500] or f"HTTP {response.status_code}", "errorCode": ""}]
    if isinstance(body, dict):
        body = [body]
    if isinstance(body, list):
        items = [item for item in body if isinstance(item, dict)]
        if items:
            return items
    return [{"message": str(body)[:500], "errorCode": ""}]


def _summary(items: list[dict[str, Any]]) -> tuple[str, str]:
    first = items[0]
    code = str(first.get("errorCode") or first.get("statusCode") or "")
    message = "; ".join(str(i.get("message", "")).strip() for i in items)
    return code, message


def record_error(items: list[dict[str, Any]], **kwargs: Any) -> RecordError:
    """A :class:`RecordError` from REST or per-record error objects, with fields → messages."""
    code, message = _summary(items)
    field_errors: dict[str, str] = {}
    for item in items:
        for name in item.get("fields") or []:
            field_errors[str(name)] = str(item.get("message", ""))
    return RecordError(
        f"{code}: {message}" if code else message, code=code or None, field_errors=field_errors, **kwargs
    )


def error_from_response(response: httpx2.Response, *, what: str, query: bool = False) -> ConnectorError:
    """The error to raise for a failed REST call; ``what`` says what was attempted."""
    status = response.status_code
    context: dict[str, Any] = {"request": response.request, "response": response}
    if status == 300:
        return RecordError(
            f"{what}: the external id matches several records ({response.text[:300]})",
            code="MULTIPLE_CHOICES",
            hint="make the external-ID field Unique in Salesforce, or merge the duplicates",
            **context,
        )
    items = error_items(response)
    code, message = _summary(items)
    text = f"{what}: {code} {message}".strip()
    if status == 401:
        return AuthError(text, hint="the access token was refused; see the token manager's advice", **context)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return QuotaExhausted(
            text,
            hint="the org's daily API allocation (rolling 24 h) is used up; wait, or buy more API calls",
            **context,
        )
    if status == 403:
        return AuthError(
            text, hint="the Run As user lacks a permission (API Enabled, object or field access)", **context
        )
    if status == 404:
        return NotFound(text, code=code or "NOT_FOUND", **context)
    if status == 429:
        retry_after = response.headers.get("retry-after")
        return RateLimited(text, retry_after=float(retry_after) if retry_after else None, **context)
    if status >= 500 or code == "SERVER_UNAVAILABLE":
        return Retryable(text, **context)
    if code == "INVALID_QUERY_LOCATOR":
        return ConnectorError(text, hint="the query cursor expired (2 days); run the query again", **context)
    if query or code in {"MALFORMED_QUERY", "INVALID_TYPE"}:
        return ConfigError(
            text,
            hint="the org lacks a field or object this query names, or the query is malformed",
            **context,
        )
    return record_error(items, **context)


def token_error(response: httpx2.Response) -> AuthError:
    """The error for a refused token request (§1.3)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = {}
    error = str(body.get("error", "")) if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    hint = _TOKEN_HINTS.get(error, "check the connected app, its Run As user and the My Domain login URL")
    if description == "request not supported on this domain":
        hint = (
            "use the org's My Domain URL (https://<domain>.my.salesforce.com), not login/test.salesforce.com"
        )
    elif description == "no client credentials user enabled":
        hint = "set a Run As user in the app's Client Credentials Flow policy"
    return AuthError(
        f"Salesforce refused the token request: {error or response.status_code} {description}".strip(),
        hint=hint,
        request=response.request,
        response=response,
    )
