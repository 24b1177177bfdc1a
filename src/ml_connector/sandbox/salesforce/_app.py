"""The sandbox's HTTP surface: OAuth token endpoint, versions, limits, sObject rows, assembly.

The token endpoint answers ``{"error", "error_description"}`` with 400 (§1.3); the REST resources
go through :func:`~ml_connector.sandbox.salesforce._rest.rest` (session, allocation, error bodies).
Queries live in ``_query.py``, collections in ``_collections.py``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_connector.sandbox._control import FaultMiddleware, control_routes
from ml_connector.sandbox.salesforce._collections import collection_routes
from ml_connector.sandbox.salesforce._describe import describe_global, describe_object
from ml_connector.sandbox.salesforce._ids import is_valid_id
from ml_connector.sandbox.salesforce._query import query_handler, query_more
from ml_connector.sandbox.salesforce._rest import (
    ApiError,
    RestCall,
    error_response,
    not_found,
    object_spec,
    read_json,
    record_json,
    rest,
    sf_errors,
)
from ml_connector.sandbox.salesforce._schema import ObjectSpec
from ml_connector.sandbox.salesforce._sessions import token_signature
from ml_connector.sandbox.salesforce._soql import QueryError

if TYPE_CHECKING:
    from ml_connector.sandbox.salesforce import SalesforceSandbox

__all__ = ["build_app"]

_RELEASES = {
    "58.0": "Summer '23",
    "59.0": "Winter '24",
    "60.0": "Spring '24",
    "61.0": "Summer '24",
    "62.0": "Winter '25",
    "63.0": "Spring '25",
    "64.0": "Summer '25",
    "65.0": "Winter '26",
    "66.0": "Spring '26",
}


# --- OAuth and versions ---------------------------------------------------------------------------


async def _token(sandbox: SalesforceSandbox, request: Request) -> Response:
    def oauth_error(error: str, description: str) -> Response:
        return JSONResponse({"error": error, "error_description": description}, status_code=400)

    host = (request.headers.get("host") or "").split(":")[0].lower()
    wanted = urlsplit(sandbox.my_domain).hostname if sandbox.my_domain else None
    if (wanted and host != wanted.lower()) or host.split(".")[0] in {"login", "test"}:
        # §1.1: the client credentials flow only works on the org's My Domain host.
        return oauth_error("invalid_grant", "request not supported on this domain")
    # application/x-www-form-urlencoded, parsed by hand (no multipart dependency needed).
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant = form.get("grant_type", "")
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error("invalid_client", "invalid client credentials")
    if grant != "client_credentials":
        # UNVERIFIED (§1.3): description text for unsupported_grant_type.
        return oauth_error("unsupported_grant_type", "grant type not supported")
    if client_id != sandbox.client_id:
        return oauth_error("invalid_client_id", "client identifier invalid")
    if client_secret != sandbox.client_secret:
        return oauth_error("invalid_client", "invalid client credentials")
    session = sandbox.sessions.issue(sandbox.user_id)
    issued_at = str(int(session.issued_at.timestamp() * 1000))  # §1.2: epoch ms as a string
    identity = f"https://login.salesforce.com/id/{sandbox.org_id}/{sandbox.user_id}"
    # §1.2: no expires_in, no refresh_token in this flow.
    return JSONResponse(
        {
            "access_token": session.access_token,
            "signature": token_signature(sandbox.client_secret, identity, issued_at),
            "scope": "api",
            "instance_url": sandbox.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
    )


async def _versions(sandbox: SalesforceSandbox, request: Request) -> Response:
    # §2.1: no auth needed; oldest first; no Sforce-Limit-Info on this call (§2.4).
    return JSONResponse(
        [
            {"label": _RELEASES.get(v, f"v{v}"), "url": f"/services/data/v{v}", "version": v}
            for v in sorted(sandbox.api_versions, key=float)
        ]
    )


async def _resources(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    root = f"/services/data/v{call.version}"
    names = ["sobjects", "query", "queryAll", "composite", "limits", "jobs"]
    return JSONResponse({name: f"{root}/{name}" for name in names})


async def _limits(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    used = sandbox.allocation.used()
    limit = sandbox.allocation.daily_limit
    body: dict[str, Any] = {
        "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DailyBulkV2QueryFileStorageMB": {"Max": 1048576, "Remaining": 1048576},
        "DailyDeliveredPlatformEvents": {"Max": 50000, "Remaining": 50000},
        "HourlyPublishedPlatformEvents": {"Max": 250000, "Remaining": 250000},
        "DailyStandardVolumePlatformEvents": {"Max": 10000, "Remaining": 10000},
    }
    return JSONResponse(body)


# --- sObject rows -----------------------------------------------------------------------------------


async def _sobject_root(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    obj = object_spec(call.request.path_params["sobject"])
    if obj is None:
        return not_found()
    if call.request.method == "GET":
        described = describe_object(obj, call.version)
        short = {k: described[k] for k in ("name", "label", "labelPlural", "keyPrefix", "custom", "urls")}
        return JSONResponse({"objectDescribe": short, "recentItems": []})
    body = await read_json(call.request)
    if not isinstance(body, dict):
        return sf_errors(400, ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of an sObject"))
    with sandbox.org.transaction(
        client=call.client, api_version=call.version, user_id=call.session.user_id
    ) as tx:
        record_id = tx.create(obj.name, body)
    return JSONResponse({"id": record_id, "success": True, "errors": []}, status_code=201)


async def _describe(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    obj = object_spec(call.request.path_params["sobject"])
    if obj is None:
        return not_found()
    return JSONResponse(describe_object(obj, call.version))


async def _describe_global(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    return JSONResponse(describe_global(call.version))


def _field_list(obj: ObjectSpec, raw: str | None) -> list[str] | None:
    if not raw:
        return None
    names = []
    for name in (n.strip() for n in raw.split(",") if n.strip()):
        spec = obj.field_ci(name)
        if spec is None:
            raise QueryError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            )
        names.append(spec.name)
    return names


async def _record(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    obj = object_spec(call.request.path_params["sobject"])
    record_id = str(call.request.path_params["record_id"])
    if obj is None:
        return not_found()
    method = call.request.method
    if method == "POST":
        if record_id.lower() != "id":
            return sf_errors(
                405,
                ApiError(
                    "METHOD_NOT_ALLOWED", "HTTP Method 'POST' not allowed. Allowed are HEAD,GET,PATCH,DELETE"
                ),
            )
        new_body = await read_json(call.request)
        if not isinstance(new_body, dict):
            return sf_errors(400, ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of an sObject"))
        with sandbox.org.transaction(
            client=call.client, api_version=call.version, user_id=call.session.user_id
        ) as tx:
            new_id = tx.create(obj.name, new_body)
        return JSONResponse({"id": new_id, "success": True, "errors": [], "created": True}, status_code=201)
    if not is_valid_id(record_id) or sandbox.org.object_of(record_id) != obj.name:
        return not_found()
    if method == "GET":
        fields = _field_list(obj, call.request.query_params.get("fields"))
        row = sandbox.org.live(obj.name, record_id)
        if row is None:
            return not_found()
        return JSONResponse(record_json(sandbox, obj, row, call.version, fields))
    body: dict[str, Any] = {}
    if method == "PATCH":
        body = await read_json(call.request)  # read before the transaction: never await inside one
        if not isinstance(body, dict):
            return sf_errors(400, ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of an sObject"))
    with sandbox.org.transaction(
        client=call.client, api_version=call.version, user_id=call.session.user_id
    ) as tx:
        if method == "DELETE":
            tx.delete(obj.name, record_id)
        else:
            tx.update(obj.name, record_id, body)
    return Response(status_code=204)


async def _by_external_id(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    obj = object_spec(call.request.path_params["sobject"])
    if obj is None:
        return not_found()
    field_name = str(call.request.path_params["ext_field"])
    value = str(call.request.path_params["ext_value"])
    spec = obj.field_ci(field_name)
    # The key must be an External ID field, or an idLookup field of a standard object (SOAP upsert
    # docs: "the external ID field attribute for custom objects or the idLookup field property for
    # standard objects"); §4.2 says the same in short. Anything else answers 404.
    if spec is None or not (spec.external_id or spec.id_lookup or spec.name == "Id"):
        # CONFLICT (reference §4.2): the guide prints this 404 as a bare object; the REST convention
        # (and what we send) is the usual array.
        if call.request.method == "GET":
            return sf_errors(
                404,
                ApiError(
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {field_name}",
                ),
            )
        return not_found()
    if call.request.method == "GET":
        with sandbox.org.lock:
            tx = sandbox.org.transaction(api_version=call.version)
            matches = tx.find_by_external_id(obj, spec, value)
        if not matches:
            return not_found()
        if len(matches) > 1:
            return JSONResponse(
                [f"/services/data/v{call.version}/sobjects/{obj.name}/{m}" for m in matches], status_code=300
            )
        row = sandbox.org.live(obj.name, matches[0]) or {}
        return JSONResponse(record_json(sandbox, obj, row, call.version, None))
    body = await read_json(call.request)
    if not isinstance(body, dict):
        return sf_errors(400, ApiError("JSON_PARSER_ERROR", "Cannot deserialize instance of an sObject"))
    update_only = call.request.query_params.get("updateOnly", "").lower() == "true"
    with sandbox.org.transaction(
        client=call.client, api_version=call.version, user_id=call.session.user_id
    ) as tx:
        record_id, created = tx.upsert(obj.name, spec, value, body, update_only=update_only)
    if created:
        return JSONResponse(
            {"id": record_id, "success": True, "errors": [], "created": True}, status_code=201
        )
    if float(call.version) <= 45.0:
        return Response(status_code=204)  # §4.2: ≤ v45 answers an update with 204 and no body
    return JSONResponse({"id": record_id, "success": True, "errors": [], "created": False}, status_code=200)


# --- assembly ---------------------------------------------------------------------------------------


def _routes(path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str]) -> list[Route]:
    """The same endpoint with and without a trailing slash (clients use both)."""
    return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]


def build_app(sandbox: SalesforceSandbox) -> FaultMiddleware:
    """The Starlette app wrapped in the shared fault middleware."""
    data = "/services/data/{version}"

    async def token(request: Request) -> Response:
        return await _token(sandbox, request)

    async def versions(request: Request) -> Response:
        return await _versions(sandbox, request)

    routes: list[Route] = [
        *control_routes(sandbox.control),
        Route("/services/oauth2/token", token, methods=["POST"]),
        *_routes("/services/data", versions, ["GET"]),
        *_routes(data, rest(sandbox, _resources), ["GET"]),
        *_routes(f"{data}/limits", rest(sandbox, _limits), ["GET"]),
        *_routes(f"{data}/query", rest(sandbox, query_handler(False)), ["GET"]),
        *_routes(f"{data}/queryAll", rest(sandbox, query_handler(True)), ["GET"]),
        *_routes(f"{data}/query/{{locator}}", rest(sandbox, query_more), ["GET"]),
        *_routes(f"{data}/queryAll/{{locator}}", rest(sandbox, query_more), ["GET"]),
        *_routes(f"{data}/sobjects", rest(sandbox, _describe_global), ["GET"]),
        *_routes(f"{data}/sobjects/{{sobject}}", rest(sandbox, _sobject_root), ["GET", "POST"]),
        *_routes(f"{data}/sobjects/{{sobject}}/describe", rest(sandbox, _describe), ["GET"]),
        *_routes(
            f"{data}/sobjects/{{sobject}}/{{record_id}}",
            rest(sandbox, _record),
            ["GET", "PATCH", "DELETE", "POST"],
        ),
        Route(
            f"{data}/sobjects/{{sobject}}/{{ext_field}}/{{ext_value:path}}",
            rest(sandbox, _by_external_id),
            methods=["GET", "PATCH"],
        ),
        *collection_routes(sandbox, rest),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            listed = (exc.headers or {}).get("Allow", "GET").split(",")
            allowed = ",".join(sorted({m.strip() for m in listed} - {"HEAD"}))
            return sf_errors(
                405,
                ApiError(
                    "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{request.method}' not allowed. Allowed are HEAD,{allowed}",
                ),
            )
        return not_found()

    app = Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error})
    return FaultMiddleware(app, sandbox.control, error_response)
