"""A faithful fake of the Salesforce REST API and OAuth token endpoint (reference salesforce-api.md).

Serve ``SalesforceSandbox().app`` with uvicorn, or hand it to a client in-process through
:class:`~ml_connector.sandbox._control.SandboxTransport`. The connector's runtime never imports it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from ml_connector.sandbox._control import FaultMiddleware, SandboxClock, SandboxControl
from ml_connector.sandbox.salesforce._app import build_app
from ml_connector.sandbox.salesforce._ids import IdFactory
from ml_connector.sandbox.salesforce._query import QueryCursors
from ml_connector.sandbox.salesforce._rules import install as _install_object_rules
from ml_connector.sandbox.salesforce._seed import seed_org
from ml_connector.sandbox.salesforce._sessions import ApiAllocation, SessionRegistry
from ml_connector.sandbox.salesforce._store import Change, ChangeListener, SalesforceOrg

__all__ = ["DEFAULT_API_VERSIONS", "Change", "ChangeListener", "SalesforceSandbox"]

_install_object_rules()

DEFAULT_API_VERSIONS: tuple[str, ...] = ("58.0", "59.0", "60.0", "61.0", "62.0")


class SalesforceSandbox:
    """One fake org: REST app, control surface, data store, sessions and API allocation.

    ``base_url`` is what the token endpoint returns as ``instance_url`` (set it after uvicorn has
    bound its port). ``my_domain``, when given, is the only host the token endpoint accepts;
    otherwise any host but ``login.*``/``test.*`` is accepted (§1.1). Credentials are derived from
    ``credentials_seed`` so a restarted sandbox accepts the same ones.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8081",
        clock: SandboxClock | None = None,
        session_idle_timeout: float = 7200.0,
        daily_api_limit: int = 100_000,
        api_versions: Iterable[str] = DEFAULT_API_VERSIONS,
        my_domain: str | None = None,
        *,
        credentials_seed: int = 7,
    ) -> None:
        self.base_url = base_url
        self.my_domain = my_domain
        self.api_versions = tuple(api_versions)
        ids = IdFactory(pod="Dn", start=credentials_seed * 1000 + 1)
        self.org_id = ids.new("00D")
        self.user_id = ids.new("005")
        digest = hashlib.sha256(f"ml-connector-sandbox-{credentials_seed}".encode()).hexdigest()
        self.client_id = "3MVG9" + digest[:40].upper()
        self.client_secret = digest[40:].upper()
        self.control = SandboxControl(
            clock=clock, on_reset=self.reset, on_seed=self._seed_from_control, records_by_object=self._counts
        )
        self.org = SalesforceOrg(self.control.clock, org_id=self.org_id, user_id=self.user_id)
        self.sessions = SessionRegistry(self.control, org_id=self.org_id, idle_timeout=session_idle_timeout)
        self.allocation = ApiAllocation(self.control, daily_api_limit)
        self.cursors = QueryCursors()
        self.app: FaultMiddleware = build_app(self)

    @property
    def base_url(self) -> str:
        """The sandbox's own URL: ``instance_url`` of every token."""
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value.rstrip("/")

    @property
    def changes(self) -> list[Change]:
        """The change log: every committed :class:`Change`, oldest first (the list itself)."""
        return self.org.changes

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(change)`` for each change committed from now on (the Pub/Sub server's hook)."""
        self.org.add_change_listener(listener)

    def records(self, object_name: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of the stored records of one object (Python values: datetime, date, float ...)."""
        with self.org.lock:
            return [dict(r) for r in self.org.rows(object_name, include_deleted)]

    def insert_records(
        self, object_name: str, records: Iterable[dict[str, Any]], *, client: str | None = None
    ) -> list[str]:
        """Create records straight in the store (validated, one transaction) — fast test set-up."""
        with self.org.transaction(client=client) as tx:
            return [tx.create(object_name, dict(r)) for r in records]

    def seed(
        self,
        seed: int = 7,
        accounts: int = 20,
        contacts_per_account: int = 2,
        orders: int = 30,
        activated_ratio: float = 0.6,
    ) -> dict[str, int]:
        """Add the deterministic building-products data set; returns records made per object."""
        return seed_org(
            self.org,
            seed=seed,
            accounts=accounts,
            contacts_per_account=contacts_per_account,
            orders=orders,
            activated_ratio=activated_ratio,
        )

    def reset(self) -> None:
        """Empty the org, drop sessions, cursors and the API usage count."""
        self.org.reset()
        self.sessions.revoke_all()
        self.cursors.clear()
        self.allocation.reset()

    def limit_info(self) -> str:
        """The ``Sforce-Limit-Info`` header value (§2.4)."""
        return f"api-usage={self.allocation.used()}/{self.allocation.daily_limit}"

    def _seed_from_control(self, options: dict[str, Any]) -> dict[str, int]:
        return self.seed(**options)

    def _counts(self) -> dict[str, int]:
        return self.org.counts()
