"""What every REST handler of the sandbox shares: error bodies, the auth/limit wrapper, helpers.

Error bodies are JSON arrays of ``{"message", "errorCode", "fields"}`` (§2.3); every authenticated
response carries ``Sforce-Limit-Info: api-usage=N/M`` (§2.4); the session is checked (and its idle
window restarted) before the daily API allocation is counted.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.salesforce._schema import SCHEMA, ObjectSpec
from ml_connector.sandbox.salesforce._sessions import Session
from ml_connector.sandbox.salesforce._soql import QueryError, to_json_value
from ml_connector.sandbox.salesforce._values import ApiError, SaveFailed

if TYPE_CHECKING:
    from ml_connector.sandbox.salesforce import SalesforceSandbox

__all__ = [
    "ApiError",
    "Handler",
    "RestCall",
    "error_response",
    "not_found",
    "object_spec",
    "read_json",
    "record_json",
    "rest",
    "sf_errors",
]


def sf_errors(status: int, *errors: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error response in the REST array form of §2.3."""
    return JSONResponse([e.rest() for e in errors], status_code=status, headers=headers)


def not_found() -> JSONResponse:
    return sf_errors(404, ApiError("NOT_FOUND", "The requested resource does not exist"))


def error_response(status: int) -> Response:
    """Bodies for injected faults.

    Salesforce never answers 429 and sends no ``Retry-After`` (§2.3); its throttling answer is
    ``503 SERVER_UNAVAILABLE``, so an injected "429" comes out as that 503.
    """
    if status == 429:
        return sf_errors(
            503, ApiError("SERVER_UNAVAILABLE", "Server is temporarily unavailable, please try again.")
        )
    return sf_errors(
        500,
        ApiError(
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1928374655-12345 "
            "(-1029384756)",
        ),
    )


@dataclass
class RestCall:
    """What a REST handler gets: the request, its API version, session and ``Sforce-Call-Options``."""

    request: Request
    version: str
    session: Session
    client: str | None


Handler = Callable[["SalesforceSandbox", RestCall], Awaitable[Response]]


def _call_options_client(header: str | None) -> str | None:
    """``client=ml-connector; defaultNamespace=x`` → ``ml-connector`` (``;`` now, ``,`` in older docs)."""
    if not header:
        return None
    for part in header.replace(",", ";").split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


def rest(sandbox: SalesforceSandbox, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with the version check, the session check and the API allocation."""

    async def endpoint(request: Request) -> Response:
        version = str(request.path_params.get("version", ""))
        if not version.startswith("v") or version[1:] not in sandbox.api_versions:
            return not_found()
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        session = sandbox.sessions.touch(token.strip()) if scheme.lower() in {"bearer", "oauth"} else None
        if session is None:
            # §1.4: the exact body SSF and our client key on.
            return sf_errors(401, ApiError("INVALID_SESSION_ID", "Session expired or invalid"))
        if not sandbox.allocation.consume():
            return sf_errors(
                403,
                ApiError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                headers={"Sforce-Limit-Info": sandbox.limit_info()},
            )
        call = RestCall(
            request, version[1:], session, _call_options_client(request.headers.get("sforce-call-options"))
        )
        try:
            response = await handler(sandbox, call)
        except SaveFailed as failed:
            response = _save_failed(failed)
        except QueryError as exc:
            response = sf_errors(400, ApiError(exc.code, exc.message))
        except json.JSONDecodeError as exc:
            response = sf_errors(
                400, ApiError("JSON_PARSER_ERROR", f"Unexpected character at [line:1, column:{exc.pos}]")
            )
        response.headers["Sforce-Limit-Info"] = sandbox.limit_info()
        return response

    return endpoint


def _save_failed(failed: SaveFailed) -> Response:
    if failed.status == 300:
        # UNVERIFIED (reference §4.2): body shape of 300; we send the matching records' URLs as strings.
        return JSONResponse(failed.matches, status_code=300)
    return sf_errors(failed.status, *failed.errors)


async def read_json(request: Request) -> Any:
    """The request's JSON body (raises JSONDecodeError like the real parser refuses bad JSON)."""
    raw = await request.body()
    return json.loads(raw or b"null")


def object_spec(name: str) -> ObjectSpec | None:
    """An sObject by name (case-insensitive, as the URL accepts)."""
    return SCHEMA.get(name) or next((o for n, o in SCHEMA.items() if n.lower() == name.lower()), None)


def record_json(
    sandbox: SalesforceSandbox, obj: ObjectSpec, row: dict[str, Any], version: str, fields: list[str] | None
) -> dict[str, Any]:
    """A record as ``GET /sobjects/{type}/{id}`` returns it."""
    out: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{row['Id']}"}
    }
    for name in fields if fields is not None else list(obj.fields):
        out[name] = to_json_value(row.get(name))
    return out
