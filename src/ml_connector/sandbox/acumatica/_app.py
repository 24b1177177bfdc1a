"""The Starlette app of the fake Acumatica: the routes of §11 under an optional instance path."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .._control import control_routes
from ._auth import AuthOutcome
from ._entities import ENTITIES, TOP_LEVEL
from ._odata import FilterError, UnknownField, parse_filter
from ._rules import ActionFailed
from ._store import PreconditionFailed, ValidationFailed
from ._wire import (
    BadRequest,
    RenderOptions,
    acu_json,
    http_error,
    key_not_found,
    no_entity,
    parse_patch,
    parse_tree,
    render_record,
)

if TYPE_CHECKING:
    from ._sandbox import AcumaticaSandbox

__all__ = ["build_routes"]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
BUILD_VERSION = "25.200.0248"

# $custom fields the fake computes. CustomerBalance.Balance is §6.1 option 1: the view and field names
# are confirmed in source, that $custom reaches them is the reference's assumption [Inf, not tested].
COMPUTED_CUSTOM = {
    "Customer": {
        ("CustomerBalance", "Balance"),
        ("CustomerBalance", "UnreleasedBalance"),
        ("CustomerBalance", "OpenOrdersBalance"),
        ("CustomerBalance", "RemainingCreditLimit"),
    }
}


SCREENS = {
    "Customer": ("Customers", "AR303000"),
    "Contact": ("Contacts", "CR302000"),
    "StockItem": ("Stock Items", "IN202500"),
    "SalesInvoice": ("Invoices", "SO303000"),
    "Payment": ("Payments and Applications", "AR302000"),
}


@dataclass
class _Operation:
    tenant: str
    entity: str
    action: str
    record_id: str
    polls_left: int
    done: bool = False
    error: str | None = None


class _Api:
    """Request handlers bound to one sandbox."""

    def __init__(self, sandbox: AcumaticaSandbox) -> None:
        self.sb = sandbox
        self.operations: dict[str, _Operation] = {}

    # --- helpers ----------------------------------------------------------------------------------

    def _outcome(self, outcome: AuthOutcome) -> Response:
        if outcome.location is not None:
            return RedirectResponse(self.sb.instance_path + outcome.location, status_code=outcome.status)
        if outcome.text is not None:
            return PlainTextResponse(outcome.text, status_code=outcome.status)
        if outcome.body is None:
            response: Response = Response(status_code=outcome.status)
        else:
            response = JSONResponse(outcome.body, status_code=outcome.status)
        for name, value in outcome.cookies.items():
            response.set_cookie(name, value, httponly=True, path="/")
        return response

    @staticmethod
    def _bearer(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else None

    async def _form(self, request: Request) -> dict[str, str]:
        raw = (await request.body()).decode()
        return dict(parse_qsl(raw, keep_blank_values=True))

    # --- instance-level routes --------------------------------------------------------------------

    async def entity_list(self, request: Request) -> Response:
        """``GET /entity``: the build version and the endpoints (§1.2)."""
        base = self.sb.instance_path
        return JSONResponse(
            {
                "version": {"acumaticaBuildVersion": BUILD_VERSION, "databaseVersion": BUILD_VERSION},
                "endpoints": [
                    {"name": name, "version": version, "href": f"{base}/entity/{name}/{version}/"}
                    for name, version in self.sb.endpoints
                ],
            }
        )

    async def token(self, request: Request) -> Response:
        """``POST /identity/connect/token``."""
        return self._outcome(self.sb.auth.token(await self._form(request)))

    async def revocation(self, request: Request) -> Response:
        """``POST /identity/connect/revocation``."""
        return self._outcome(self.sb.auth.revoke(await self._form(request)))

    async def login(self, request: Request) -> Response:
        """``POST /entity/auth/login`` (JSON or form body)."""
        raw = await request.body()
        try:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                body: Any = dict(parse_qsl(raw.decode()))
            else:
                body = json.loads(raw or b"{}")
        except ValueError:
            return http_error(400, "The request is invalid.")
        if not isinstance(body, dict):
            return http_error(400, "The request is invalid.")
        return self._outcome(self.sb.auth.login(body))

    async def logout(self, request: Request) -> Response:
        """``POST /entity/auth/logout``."""
        return self._outcome(self.sb.auth.logout(self._bearer(request), request.cookies.get(".ASPXAUTH")))

    # --- entity routes ----------------------------------------------------------------------------

    async def entity(self, request: Request) -> Response:
        """Everything under ``/entity/{endpoint}/{version}/``."""
        name, version = request.path_params["endpoint"], request.path_params["version"]
        if (name, version) not in self.sb.endpoints:
            # [assumption] §1.5: the real status and body are unverified; 404 + {"message"}.
            return http_error(404, f"No endpoint '{name}/{version}' is defined on this instance.")
        tenant, refusal = self.sb.auth.authenticate(self._bearer(request), request.cookies.get(".ASPXAUTH"))
        if refusal is not None or tenant is None:
            return self._outcome(refusal or AuthOutcome(401))
        segments = [s for s in request.path_params["rest"].split("/") if s != ""]
        if not segments or segments[0] not in TOP_LEVEL:
            return http_error(404, "The requested entity is not defined in the endpoint.")
        entity, rest = segments[0], segments[1:]
        base = f"{self.sb.instance_path}/entity/{name}/{version}"
        if request.method != "GET" and entity in self.sb.read_only_entities:
            # Writing needs edit rights on the screen; the text is the one observed [Obs: FG, §4.3].
            title, screen = SCREENS[entity]
            return http_error(403, f"You have insufficient rights to access the {title} ({screen}) form.")
        try:
            if request.method == "GET":
                return self._get(request, tenant, entity, rest, version, base)
            if request.method in ("PUT", "PATCH") and not rest:
                return await self._put(request, tenant, entity, version, base)
            if request.method == "POST" and len(rest) == 1:
                return await self._action(request, tenant, entity, rest[0], base)
            if request.method == "DELETE" and rest:
                rec = self._find(tenant, entity, rest)
                if rec is None:
                    return no_entity()
                self.sb.store.delete(tenant, entity, rec)
                return Response(status_code=204)
        except FilterError as exc:
            return http_error(
                500,
                "An error has occurred.",
                exception_message=str(exc),
                exception_type="PX.Api.ContractBased.OData.ODataException",
            )
        except UnknownField as exc:
            return key_not_found(str(exc.args[0]))
        except BadRequest as exc:
            return acu_json({"message": str(exc), "modelState": exc.model_state}, 400)
        return http_error(405, "The requested resource does not support this HTTP method.")

    def _options(self, request: Request, entity: str, version: str, base: str) -> RenderOptions:
        params = request.query_params
        schema = ENTITIES[entity]
        expand = parse_tree(params.get("$expand")) or {}
        select = parse_tree(params.get("$select"))
        _check_tree(schema.name, expand, version, links_only=True)
        if select is not None:
            _check_tree(schema.name, select, version, links_only=False)
        custom: list[tuple[str, str]] = []
        for item in filter(None, (params.get("$custom") or "").split(",")):
            view, _, field_name = item.strip().partition(".")
            if (view, field_name) not in COMPUTED_CUSTOM.get(entity, set()) and not field_name.startswith(
                "Usr"
            ):
                raise UnknownField(item.strip())
            custom.append((view, field_name))
        return RenderOptions(
            version=version,
            entity_base=base,
            clock=self.sb.server_time,
            expand=expand,
            select=select,
            custom=custom,
            custom_value=self._custom_value(entity),
        )

    def _custom_value(self, entity: str) -> Any:
        store = self.sb.store

        def value(record: Any, view: str, field_name: str) -> tuple[str, Any] | None:
            if (view, field_name) in COMPUTED_CUSTOM.get(entity, set()):
                balances = store.customer_balances(record["_tenant"], record["CustomerID"])
                rules = record.get("CreditVerificationRules") or {}
                numbers = {
                    "Balance": balances["Balance"],
                    "UnreleasedBalance": balances["UnreleasedBalance"],
                    "OpenOrdersBalance": rules.get("OpenOrdersBalance"),
                    "RemainingCreditLimit": rules.get("RemainingCreditLimit"),
                }
                return ("CustomDecimalField", numbers[field_name])
            stored = (record.get("custom") or {}).get(view, {}).get(field_name)
            return (str(stored[0]), stored[1]) if stored else None

        return value

    def _view(self, tenant: str, entity: str, rec: dict[str, Any]) -> dict[str, Any]:
        view = self.sb.store.materialize(tenant, entity, rec)
        view["_tenant"] = tenant
        return view

    def _find(self, tenant: str, entity: str, rest: list[str]) -> dict[str, Any] | None:
        if len(rest) == 1 and _GUID.match(rest[0]):
            return self.sb.store.by_id(tenant, entity, rest[0])
        keys = rest[0].split("|") if len(rest) == 1 and "|" in rest[0] else rest
        return self.sb.store.by_keys(tenant, entity, keys)

    def _get(
        self, request: Request, tenant: str, entity: str, rest: list[str], version: str, base: str
    ) -> Response:
        schema = ENTITIES[entity]
        if len(rest) == 3 and rest[1] == "status":
            return self._poll(tenant, entity, rest[0], rest[2])
        if rest == ["$adHocSchema"]:
            template: dict[str, Any] = {f.name: {} for f in schema.fields_for(version)}
            custom: dict[str, dict[str, Any]] = {}
            for view, fld in sorted(COMPUTED_CUSTOM.get(entity, set())):
                custom.setdefault(view, {})[fld] = {"type": "CustomDecimalField"}
            return acu_json(
                {"id": str(uuid.uuid4()), "rowNumber": 1, "note": {}, **template, "custom": custom}
            )
        options = self._options(request, entity, version, base)
        if rest:
            rec = self._find(tenant, entity, rest)
            if rec is None:
                return no_entity()
            return acu_json(render_record(schema, self._view(tenant, entity, rec), options))
        params = request.query_params
        expr = parse_filter(params["$filter"]) if params.get("$filter") else None
        if expr is not None:
            for path in expr.paths():
                _check_path(entity, path, version)
        rows = [self._view(tenant, entity, r) for r in self.sb.store.query(tenant, entity, expr)]
        skip = int(params.get("$skip") or 0)
        top = params.get("$top")
        rows = rows[skip : skip + int(top)] if top is not None else rows[skip:]
        # A bare array, no envelope or count (§3.2); rowNumber is the position in the page [Inf].
        return acu_json([render_record(schema, r, options, row_number=i + 1) for i, r in enumerate(rows)])

    async def _put(self, request: Request, tenant: str, entity: str, version: str, base: str) -> Response:
        schema = ENTITIES[entity]
        options = self._options(request, entity, version, base)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return acu_json(
                {"message": "The request is invalid.", "modelState": {"entity": ["Invalid JSON."]}}, 400
            )
        patch = parse_patch(schema, version, body, self.sb.server_time)
        matches = None
        if request.query_params.get("$filter"):
            expr = parse_filter(request.query_params["$filter"])
            for path in expr.paths():
                _check_path(entity, path, version)
            matches = self.sb.store.query(tenant, entity, expr)
            if len(matches) > 1:
                # [assumption] an ambiguous $filter on PUT; the reference does not say.
                return http_error(
                    500,
                    "An error has occurred.",
                    exception_message="More than one entity satisfies the condition.",
                    exception_type="PX.Api.ContractBased.MoreThanOneEntitySatisfiesTheConditionException",
                )
        is_patch = request.method == "PATCH"
        if is_patch and self.sb.store.locate(tenant, entity, patch, matches) is None:
            # PATCH cannot insert: a missing record is 404 (§4.2, 2025 R1+ builds).
            return http_error(404, "The entity to update was not found.")
        try:
            rec, _ = self.sb.store.put(
                tenant,
                entity,
                patch,
                matches=matches,
                if_match=is_patch or request.headers.get("if-match", "").strip() == "*",
                if_none_match=request.headers.get("if-none-match", "").strip() == "*",
                touch=is_patch,
            )
        except PreconditionFailed as exc:
            return http_error(412, str(exc))
        except ValidationFailed as exc:
            options.errors = exc.errors
            view = dict(exc.record, _tenant=tenant)
            body_out = render_record(schema, view, options)
            return acu_json(body_out, 422)
        return acu_json(render_record(schema, self._view(tenant, entity, rec), options))

    async def _action(self, request: Request, tenant: str, entity: str, action: str, base: str) -> Response:
        schema = ENTITIES[entity]
        if action not in schema.actions:
            return http_error(404, f"The action '{action}' is not defined for the '{entity}' entity.")  # §1.5
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return http_error(400, "The request is invalid.")
        target = body.get("entity") if isinstance(body, dict) else None
        if not isinstance(target, dict):
            return http_error(400, "The request is invalid.")
        rec = None
        if target.get("id"):
            rec = self.sb.store.by_id(tenant, entity, str(target["id"]))
        else:
            keys = [
                (target.get(k) or {}).get("value") if isinstance(target.get(k), dict) else None
                for k in schema.keys
            ]
            if any(isinstance(target.get(k), str) for k in schema.keys):
                return acu_json(
                    {
                        "message": "The request is invalid.",
                        "modelState": {"entity": ["Values must be wrapped."]},
                    },
                    400,
                )
            if all(k is not None for k in keys):
                rec = self.sb.store.by_keys(tenant, entity, [str(k) for k in keys])
        if rec is None:
            return no_entity()
        op_id = str(uuid.uuid4())
        self.operations[op_id] = _Operation(tenant, entity, action, rec["id"], self.sb.action_polls)
        location = f"{self.sb.base_url}{base}/{entity}/{action}/status/{op_id}"
        return Response(status_code=202, headers={"Location": location})

    def _poll(self, tenant: str, entity: str, action: str, op_id: str) -> Response:
        op = self.operations.get(op_id)
        if op is None or op.tenant != tenant or op.entity != entity or op.action != action:
            return http_error(404, "The long-running operation was not found.")
        if not op.done:
            if op.polls_left > 0:
                op.polls_left -= 1
                return Response(status_code=202)
            op.done = True
            rec = self.sb.store.by_id(tenant, entity, op.record_id)
            try:
                if rec is None:
                    raise ActionFailed("The record no longer exists.")
                if op.action == "ReleaseSalesInvoice":
                    self.sb.store.release_invoice(tenant, rec)
                elif op.action == "ReleasePayment":
                    self.sb.store.release_payment(tenant, rec)
            except ActionFailed as exc:
                op.error = str(exc)
        if op.error:
            # "If the request returns 400, 401 or 500, the operation has failed" (§4.6).
            return http_error(
                500,
                "An error has occurred.",
                exception_message=op.error,
                exception_type="PX.Data.PXException",
            )
        return Response(status_code=204)


def _check_tree(entity: str, tree: dict[str, Any], version: str, *, links_only: bool) -> None:
    """Unknown names in ``$select`` -> KeyNotFoundException (§3.5, [Obs: FG]); the same answer for an
    unknown ``$expand`` name is an [assumption]."""
    schema = ENTITIES[entity]
    for name, sub in tree.items():
        link = schema.link(name, version)
        if link is not None:
            _check_tree(link.schema, sub, version, links_only=links_only)
        elif links_only or schema.field(name, version) is None or sub:
            raise UnknownField(name)


def _check_path(entity: str, path: tuple[str, ...], version: str) -> None:
    schema = ENTITIES[entity]
    for i, part in enumerate(path):
        if i == len(path) - 1:
            if part != "id" and schema.field(part, version) is None:
                raise UnknownField(part)
            return
        link = schema.link(part, version)
        if link is None or link.detail:
            # Filtering on detail entities is not supported (§5.1).
            raise UnknownField(part)
        schema = ENTITIES[link.schema]


def build_routes(sandbox: AcumaticaSandbox) -> list[BaseRoute]:
    """Every route: the API under the instance path, ``/_sandbox/`` at the root."""
    api = _Api(sandbox)
    sandbox._api = api
    api_routes: list[BaseRoute] = [
        Route("/entity", api.entity_list, methods=["GET"]),
        Route("/entity/auth/login", api.login, methods=["POST"]),
        Route("/entity/auth/logout", api.logout, methods=["POST"]),
        Route("/identity/connect/token", api.token, methods=["POST"]),
        Route("/identity/connect/revocation", api.revocation, methods=["POST"]),
        Route(
            "/entity/{endpoint}/{version}/{rest:path}",
            api.entity,
            methods=["GET", "PUT", "PATCH", "POST", "DELETE"],
        ),
    ]
    routes: list[BaseRoute] = list(control_routes(sandbox.control))
    if sandbox.instance_path:
        routes.append(Mount(sandbox.instance_path, routes=api_routes))
    else:
        routes.extend(api_routes)
    return routes


def build_app(sandbox: AcumaticaSandbox) -> Starlette:
    """The bare Starlette app (middleware is added by the sandbox)."""
    return Starlette(routes=build_routes(sandbox))
