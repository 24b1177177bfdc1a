"""How the client reads an answer: HTTP status and Acumatica error bodies onto the error tree.

§4.3 and §9 of shared/reference/acumatica-api.md: a missing record is 500
``NoEntitySatisfiesTheConditionException`` (not 404); validation is 422 (the entity with ``error``
on fields and rows) or 500 ``OutcomeEntityHasErrorsException``; an unknown ``$select`` is 500
``KeyNotFoundException``; 404 means a wrong endpoint, entity or action; 429 carries no documented
``Retry-After``; seat exhaustion shows as 429/500 "API Login Limit" or a redirect to ``Error.aspx``.
"""

from __future__ import annotations

from typing import Any

import httpx2

from ..errors import AuthError, ConfigError, NotFound, RateLimited, RecordError, Retryable
from ._auth import SEAT_HINT, SeatsExhausted, is_seat_exhaustion
from ._values import field_errors, loads

__all__ = ["Ambiguous", "raise_for_status"]


class Ambiguous(Retryable):
    """The request may have been applied (sent, then no usable answer)."""


def raise_for_status(response: httpx2.Response, method: str) -> None:
    """Return quietly for 2xx, else raise the error the status and body call for."""
    status = response.status_code
    if status < 300:
        return
    if is_seat_exhaustion(response):
        raise SeatsExhausted("Acumatica: API Login Limit", hint=SEAT_HINT, response=response)
    body: Any
    try:
        body = loads(response.content) if response.content else None
    except ValueError:
        body = None
    info = body if isinstance(body, dict) else {}
    exception_type = str(info.get("exceptionType") or "")
    message = str(info.get("exceptionMessage") or info.get("message") or response.text[:300])
    if status == 429:
        retry_after = response.headers.get("retry-after")
        raise RateLimited(
            f"Acumatica declined the request (429): {message}",
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            response=response,
        )
    if status == 422:
        errors = field_errors(body)
        top = errors.get("") or "the record has errors"
        raise RecordError(
            f"Acumatica refused the record: {top}", field_errors=errors, code="422", response=response
        )
    if status == 500 and "NoEntitySatisfiesTheCondition" in exception_type:
        raise NotFound(message, code="NoEntitySatisfiesTheCondition", response=response)
    if status == 500 and "OutcomeEntityHasErrors" in exception_type:
        raise RecordError(
            message, field_errors=field_errors(body), code="OutcomeEntityHasErrors", response=response
        )
    if status == 500 and "KeyNotFoundException" in exception_type:
        raise ConfigError(
            f"Acumatica: {message}",
            hint="a $select/$expand/$custom name does not exist in this endpoint version",
            response=response,
        )
    if status == 500 and exception_type == "PX.Data.PXException":
        raise RecordError(f"Acumatica operation failed: {message}", code="PXException", response=response)
    if status == 404:
        raise ConfigError(
            f"Acumatica answered 404: {message}",
            hint="check the endpoint name/version, entity and action names",
            response=response,
        )
    if status == 403:
        raise AuthError(
            f"Acumatica: {message}", hint="give the API user rights to the screen", response=response
        )
    if status in (400, 412):
        model_state = info.get("modelState") or {}
        fields = (
            {k: "; ".join(map(str, v)) for k, v in model_state.items()}
            if isinstance(model_state, dict)
            else {}
        )
        raise RecordError(
            f"Acumatica refused the request ({status}): {message}",
            field_errors=fields,
            code=str(status),
            response=response,
        )
    if status >= 500 or status == 409 or 300 <= status < 400:
        kind = Retryable if method == "GET" else Ambiguous
        raise kind(f"Acumatica answered {status}: {message}", response=response)
    raise RecordError(f"Acumatica answered {status}: {message}", code=str(status), response=response)
