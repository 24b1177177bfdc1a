"""``AcumaticaSandbox``: the fake Acumatica instance, ready for uvicorn or in-process tests."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .._control import CONTROL_PREFIX, FaultMiddleware, SandboxClock, SandboxControl
from ._app import _Api, build_app
from ._auth import Credentials, SeatAuthority
from ._limits import LicenceLimits, LimitsMiddleware, LimitStats
from ._seed import seed_tenant
from ._store import AcumaticaStore
from ._wire import ServerTime, http_error, parse_patch

__all__ = ["DEFAULT_ENDPOINTS", "AcumaticaSandbox"]

DEFAULT_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("Default", "20.200.001"),
    ("Default", "22.200.001"),
    ("Default", "23.200.001"),
    ("Default", "24.200.001"),
    ("Default", "25.200.001"),
)


def _fault_body(status: int) -> Response:
    if status == 429:
        return _declined()
    return http_error(
        500, "An error has occurred.", exception_message="Sandbox fault.", exception_type="System.Exception"
    )


def _declined() -> Response:
    # §7: "429: The number of requests has exceeded the limit imposed by the license"; no Retry-After
    # and no documented body, so the documented sentence is sent as an HttpError message.
    return http_error(429, "The number of requests has exceeded the limit imposed by the license.")


class AcumaticaSandbox:
    """A faithful fake of Acumatica's contract-based REST API (see the package docstring).

    ``app`` is the ASGI app (serve it with uvicorn, or hand it to ``SandboxTransport``); ``control``
    the shared clock/faults/stats; ``credentials`` what the fake accepts; ``seed`` fills it.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8082",
        instance_path: str = "/AcumaticaERP",
        clock: SandboxClock | None = None,
        endpoints: Iterable[tuple[str, str]] = DEFAULT_ENDPOINTS,
        tenants: Iterable[str] = ("Company",),
        seat_limit: int | None = 2,
        requests_per_minute: int | None = None,
        max_concurrent: int | None = None,
        queue_limit: int = 20,
        strict_limits: bool = False,
        server_timezone: str = "America/New_York",
        *,
        label_local_time_as_utc: bool = True,
        max_queue_wait_seconds: float = 600.0,
        limit_window_seconds: float = 60.0,
        login_limit_status: int = 429,
        hold_on_entry: bool = True,
        advanced_so_invoices: bool = True,
        validate_document_totals: bool = False,
        read_only_entities: Iterable[str] = (),
        action_polls: int = 1,
        credentials: Credentials | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.instance_path = ("/" + instance_path.strip("/")) if instance_path.strip("/") else ""
        self.endpoints = tuple(endpoints)
        self.tenant_names = tuple(tenants)
        self.server_time = ServerTime(server_timezone, label_local_as_utc=label_local_time_as_utc)
        self.action_polls = action_polls
        self.control = SandboxControl(
            clock=clock,
            on_reset=self.reset,
            on_seed=lambda options: self.seed(**options),
            records_by_object=lambda: self.store.counts(),
        )
        self.store = AcumaticaStore(
            self.tenant_names,
            now=self.control.clock.now,
            server_time=self.server_time,
            hold_on_entry=hold_on_entry,
            advanced_so_invoices=advanced_so_invoices,
            validate_document_totals=validate_document_totals,
        )
        self.read_only_entities = frozenset(read_only_entities)
        self.credentials = credentials or Credentials(
            tenant=self.tenant_names[0],
            client_guid=str(uuid.uuid4()).upper(),
            client_secret=secrets.token_urlsafe(18),
            username="api-sync",
            password=secrets.token_urlsafe(12),
        )
        self.auth = SeatAuthority(
            self.control,
            self.credentials,
            self.tenant_names,
            seat_limit=seat_limit,
            login_limit_status=login_limit_status,
        )
        self.limits = LicenceLimits(
            requests_per_minute=requests_per_minute,
            max_concurrent=max_concurrent,
            queue_limit=queue_limit,
            max_wait_seconds=max_queue_wait_seconds,
            strict=strict_limits,
            window_seconds=limit_window_seconds,
        )
        self._api: _Api | None = None
        inner: ASGIApp = FaultMiddleware(build_app(self), self.control, _fault_body)
        logout = f"{self.instance_path}/entity/auth/logout"
        self._limiter = LimitsMiddleware(
            inner,
            self.limits,
            _declined,
            exempt=lambda path: path.startswith(CONTROL_PREFIX) or path == logout,
        )
        self.app: ASGIApp = self._limiter

    # --- conveniences for tests and the demo ------------------------------------------------------

    @property
    def instance_url(self) -> str:
        """What the client is configured with: base URL plus instance path."""
        return self.base_url + self.instance_path

    @property
    def limit_stats(self) -> LimitStats:
        """Processed / delayed / declined counts of the licence limits."""
        return self._limiter.stats

    def reset(self) -> None:
        """Empty every tenant, sign everyone out, forget long operations and limit statistics."""
        self.store.reset()
        self.auth.reset()
        self._limiter.reset()
        if self._api is not None:
            self._api.operations.clear()

    def seed(
        self, seed: int = 7, customers: int = 5, tenant: str | None = None, **options: Any
    ) -> dict[str, int]:
        """Deterministic demo data: stock items from the shared catalogue, customers, contacts."""
        return seed_tenant(
            self.store, tenant or self.tenant_names[0], seed=seed, customers=customers, **options
        )

    def records(self, entity: str, tenant: str | None = None) -> list[dict[str, Any]]:
        """Stored records of ``entity`` as plain dicts with computed fields (for assertions)."""
        name = tenant or self.tenant_names[0]
        return [self.store.materialize(name, entity, r) for r in self.store.records(name, entity)]

    def put(
        self, entity: str, wrapped: dict[str, Any], tenant: str | None = None, version: str = "24.200.001"
    ) -> dict[str, Any]:
        """Write a record as an API PUT would (wrapped body), bypassing HTTP."""
        from ._entities import ENTITIES

        rec, _ = self.store.put(
            tenant or self.tenant_names[0],
            entity,
            parse_patch(ENTITIES[entity], version, wrapped, self.server_time),
        )
        return rec

    def release_invoice(
        self, reference_nbr: str, type_: str = "Invoice", tenant: str | None = None
    ) -> dict[str, Any]:
        """Release a SalesInvoice at once (what ``ReleaseSalesInvoice`` does when its polling ends)."""
        name = tenant or self.tenant_names[0]
        rec = self.store.by_keys(name, "SalesInvoice", [type_, reference_nbr])
        if rec is None:
            raise KeyError(reference_nbr)
        self.store.release_invoice(name, rec)
        return rec

    def apply_payment(
        self,
        customer_id: str,
        amount: Decimal | str,
        invoices: dict[str, Decimal | str],
        tenant: str | None = None,
    ) -> dict[str, Any]:
        """Enter and release a payment applied to ``{ReferenceNbr: amount}``; returns the payment."""
        name = tenant or self.tenant_names[0]
        rec = self.put(
            "Payment",
            {
                "CustomerID": {"value": customer_id},
                "PaymentAmount": {"value": str(amount)},
                "Hold": {"value": False},
                "DocumentsToApply": [
                    {
                        "DocType": {"value": "Invoice"},
                        "ReferenceNbr": {"value": ref},
                        "AmountPaid": {"value": str(paid)},
                    }
                    for ref, paid in invoices.items()
                ],
            },
            tenant=name,
        )
        self.store.release_payment(name, rec)
        return rec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The sandbox object is itself the ASGI app."""
        await self.app(scope, receive, send)
