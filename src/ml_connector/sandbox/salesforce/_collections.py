"""sObject Collections (reference §4.3): create, update, delete and upsert of up to 200 records.

A well-formed request answers 200 with one result per record, in order; per-record errors use
``statusCode``. With ``allOrNone`` every change of the request is rolled back when one record fails,
and the records that would have succeeded report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``.

UNVERIFIED (reference §8, caveat 1): whether Salesforce copies the ``Sforce-Call-Options`` client of
a collections call into CDC ``changeOrigin``; the sandbox assumes it does and records it per change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ml_connector.sandbox.salesforce._rest import Handler, RestCall, object_spec, read_json, sf_errors
from ml_connector.sandbox.salesforce._values import ApiError, SaveFailed

if TYPE_CHECKING:
    from ml_connector.sandbox.salesforce import SalesforceSandbox
    from ml_connector.sandbox.salesforce._store import Transaction

__all__ = ["collection_routes"]

MAX_RECORDS = 200
_ROLLED_BACK = ApiError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


def _too_many(count: int) -> ApiError:
    # UNVERIFIED: exact error for more than 200 records (limit itself is official, §4.3/§7).
    return ApiError(
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


Operation = Callable[["Transaction", dict[str, Any]], dict[str, Any]]


def _run(
    sandbox: SalesforceSandbox, call: RestCall, records: list[Any], all_or_none: bool, operation: Operation
) -> Response:
    if len(records) > MAX_RECORDS:
        return sf_errors(400, _too_many(len(records)))
    results: list[dict[str, Any]] = []
    failed = False
    with sandbox.org.transaction(
        client=call.client, api_version=call.version, user_id=call.session.user_id
    ) as tx:
        start = tx.savepoint() if all_or_none else None
        for record in records:
            point = tx.savepoint()
            try:
                if not isinstance(record, dict):
                    raise SaveFailed([ApiError("INVALID_TYPE", "Must send a concrete entity type.")])
                results.append({**operation(tx, record), "success": True, "errors": []})
            except SaveFailed as exc:
                tx.rollback_to(point)
                failed = True
                results.append({"success": False, "errors": [e.per_record() for e in exc.errors]})
        if all_or_none and failed and start is not None:
            tx.rollback_to(start)
            results = [
                r if not r["success"] else {"success": False, "errors": [_ROLLED_BACK.per_record()]}
                for r in results
            ]
    return JSONResponse(results)


def _record_type(record: dict[str, Any]) -> str | None:
    attributes = record.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    return kind if isinstance(kind, str) else None


def _checked_type(record: dict[str, Any], wanted: str | None = None) -> str:
    kind = _record_type(record)
    obj = object_spec(kind) if kind else None
    if obj is None:
        raise SaveFailed([ApiError("INVALID_TYPE", "Must send a concrete entity type.")])
    if wanted is not None and obj.name != wanted:
        raise SaveFailed(
            [ApiError("INVALID_TYPE", f"Record type {obj.name} does not match the upsert type {wanted}")]
        )
    return obj.name


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


async def _body(call: RestCall) -> tuple[list[Any], bool] | Response:
    body = await read_json(call.request)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return sf_errors(400, ApiError("JSON_PARSER_ERROR", "Request body must contain a records array"))
    return body["records"], bool(body.get("allOrNone", False))


async def _create_or_update(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    method = call.request.method
    if method == "DELETE":
        ids = [i for i in call.request.query_params.get("ids", "").split(",") if i]
        all_or_none = call.request.query_params.get("allOrNone", "false").lower() == "true"
        if len(ids) > MAX_RECORDS:
            return sf_errors(400, _too_many(len(ids)))

        def delete(tx: Transaction, record: dict[str, Any]) -> dict[str, Any]:
            object_name = sandbox.org.object_of(record["id"])
            if object_name is None or sandbox.org.lookup(object_name, record["id"]) is None:
                raise SaveFailed([ApiError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")])
            tx.delete(object_name, record["id"])
            return {"id": record["id"]}

        return _run(sandbox, call, [{"id": i} for i in ids], all_or_none, delete)
    parsed = await _body(call)
    if isinstance(parsed, Response):
        return parsed
    records, all_or_none = parsed

    def create(tx: Transaction, record: dict[str, Any]) -> dict[str, Any]:
        return {"id": tx.create(_checked_type(record), _fields(record))}

    def update(tx: Transaction, record: dict[str, Any]) -> dict[str, Any]:
        object_name = _checked_type(record)
        fields = _fields(record)
        record_id = fields.pop("Id", None) or fields.pop("id", None)
        if not record_id:
            raise SaveFailed([ApiError("MISSING_ARGUMENT", "Id not specified in an update call")])
        tx.update(object_name, str(record_id), fields)
        return {"id": record_id}

    return _run(sandbox, call, records, all_or_none, create if method == "POST" else update)


async def _upsert(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    obj = object_spec(call.request.path_params["sobject"])
    spec = obj.field_ci(call.request.path_params["ext_field"]) if obj else None
    if obj is None or spec is None or not (spec.external_id or spec.id_lookup or spec.name == "Id"):
        return sf_errors(404, ApiError("NOT_FOUND", "The requested resource does not exist"))
    parsed = await _body(call)
    if isinstance(parsed, Response):
        return parsed
    records, all_or_none = parsed

    def upsert(tx: Transaction, record: dict[str, Any]) -> dict[str, Any]:
        _checked_type(record, obj.name)
        fields = _fields(record)
        if spec.name != "Id" and any(k.lower() == "id" for k in fields):
            # §4.3: "don't set Id — only external ids".
            raise SaveFailed(
                [ApiError("INVALID_FIELD", "Id can't be set in an upsert by external ID", ("Id",))]
            )
        key = next((k for k in fields if k.lower() == spec.name.lower()), None)
        value = fields.pop(key) if key else None
        if value in (None, ""):
            raise SaveFailed([ApiError("MISSING_ARGUMENT", f"{spec.name} not specified", (spec.name,))])
        record_id, created = tx.upsert(obj.name, spec, str(value), fields)
        return {"id": record_id, "created": created}

    return _run(sandbox, call, records, all_or_none, upsert)


def collection_routes(
    sandbox: SalesforceSandbox,
    rest: Callable[[SalesforceSandbox, Handler], Callable[[Request], Awaitable[Response]]],
) -> list[Route]:
    """Routes of ``/composite/sobjects`` and ``/composite/sobjects/{type}/{extField}``."""
    base = "/services/data/{version}/composite/sobjects"
    many = rest(sandbox, _create_or_update)
    upsert = rest(sandbox, _upsert)
    return [
        Route(base, many, methods=["POST", "PATCH", "DELETE"]),
        Route(base + "/", many, methods=["POST", "PATCH", "DELETE"]),
        Route(base + "/{sobject}/{ext_field}", upsert, methods=["PATCH"]),
        Route(base + "/{sobject}/{ext_field}/", upsert, methods=["PATCH"]),
    ]
