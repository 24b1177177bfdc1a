"""Test helpers for the flows: an in-process pair of sandboxes with a fresh workspace wired to them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_connector.admin import Workspace, open_workspace
from ml_connector.salesforce import SalesforceClient
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox._serve import SandboxPair, SeedSize, write_config
from ml_connector.sync import SyncReport, Transports, run_sync

AUTH_PATHS = ("/services/oauth2/token", "/identity/connect/", "/entity/auth/")


@dataclass
class Env:
    """Both sandboxes, the connector's workspace, and helpers acting as the people in each system."""

    pair: SandboxPair
    ws: Workspace
    config_path: Path

    @property
    def transports(self) -> Transports:
        return Transports(
            SandboxTransport(self.pair.salesforce.app), SandboxTransport(self.pair.acumatica.app)
        )

    async def sync(self, *flows: str, **options: Any) -> SyncReport:
        return await run_sync(self.ws, flows, transports=self.transports, **options)

    def data_writes(self) -> int:
        """Writes the sandboxes saw, sign-in/out left out."""
        total = 0
        for sandbox in (self.pair.salesforce, self.pair.acumatica):
            for key, count in sandbox.control.stats.snapshot()["calls"].items():
                method, _, path = key.partition(" ")
                if method in ("POST", "PUT", "PATCH", "DELETE") and not any(p in path for p in AUTH_PATHS):
                    total += count
        return total

    def sales_rep(self) -> SalesforceClient:
        """A Salesforce user making changes through the REST API (not the connector's client name)."""
        sf = self.pair.salesforce
        return SalesforceClient(
            sf.base_url,
            sf.client_id,
            sf.client_secret,
            call_options_client="sales-rep",
            transport=SandboxTransport(sf.app),
        )

    def acu(self, entity: str) -> list[dict[str, Any]]:
        return self.pair.acumatica.records(entity)

    def sf(self, sobject: str, **kw: Any) -> list[dict[str, Any]]:
        return self.pair.salesforce.records(sobject, **kw)

    def activated_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.sf("Order") if o.get("StatusCode") == "Activated"]

    def invoices_for(self, order_number: str) -> list[dict[str, Any]]:
        return [i for i in self.acu("SalesInvoice") if i.get("CustomerOrder") == order_number]


def make_env(tmp_path: Path, size: SeedSize, **acumatica: Any) -> Env:
    pair = SandboxPair.create(size, **acumatica)
    path = write_config(pair, tmp_path / "ws")
    return Env(pair, open_workspace(path), path)
