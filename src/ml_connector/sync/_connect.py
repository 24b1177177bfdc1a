"""Open both systems for a workspace: credentials from the vault, clients, gateways, a SyncContext."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from pydantic import SecretStr

from ml_connector.acumatica import AcumaticaClient
from ml_connector.admin import Workspace
from ml_connector.errors import ConfigError
from ml_connector.salesforce import SalesforceClient
from ml_connector.sync._context import SyncContext
from ml_connector.sync._gateways import AcumaticaGateway, CallCounter, SalesforceGateway

__all__ = ["Transports", "open_clients", "open_sync"]


class Transports:
    """Optional I/O seams: tests and the demo pass the sandboxes' apps in-process."""

    def __init__(
        self,
        salesforce: httpx2.AsyncBaseTransport | None = None,
        acumatica: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.salesforce = salesforce
        self.acumatica = acumatica


def _secret(secrets: dict[str, SecretStr] | None, name: str, system: str) -> SecretStr:
    if secrets is None or name not in secrets:
        raise ConfigError(
            f"no {system} credentials are stored for this connection",
            hint=f"run `ml-connector credentials set {system}`",
        )
    return secrets[name]


@asynccontextmanager
async def open_clients(
    ws: Workspace, transports: Transports | None = None
) -> AsyncIterator[tuple[SalesforceClient, AcumaticaClient, dict[str, CallCounter]]]:
    """Both clients with their call counters; Acumatica signs out when the block ends."""
    transports = transports or Transports()
    config, vault = ws.config, ws.vault()
    sf_secrets = vault.load_secrets(ws.store, ws.connection_id, "salesforce")
    acu_secrets = vault.load_secrets(ws.store, ws.connection_id, "acumatica")
    token = vault.load_secrets(ws.store, ws.connection_id, "acumatica_token")
    counters = {"salesforce": CallCounter(), "acumatica": CallCounter()}
    sf_http = httpx2.AsyncClient(
        transport=transports.salesforce, timeout=60.0, event_hooks={"request": [counters["salesforce"]]}
    )
    acu_http = httpx2.AsyncClient(
        transport=transports.acumatica,
        timeout=httpx2.Timeout(connect=15.0, read=600.0, write=60.0, pool=None),  # queued requests wait (§7)
        follow_redirects=False,  # a redirect to Error.aspx means "no seat" (§2.3)
        event_hooks={"request": [counters["acumatica"]]},
    )

    async def save_refresh_token(value: str) -> None:
        # Rotating refresh tokens (§2.1): the new one is stored before it is ever used.
        vault.store_secrets(
            ws.store, ws.connection_id, "acumatica_token", {"refresh_token": SecretStr(value)}
        )

    salesforce = SalesforceClient(
        login_url=str(config.salesforce.my_domain_url).rstrip("/"),
        client_id=config.salesforce.client_id,
        client_secret=_secret(sf_secrets, "client_secret", "salesforce"),
        api_version=config.salesforce.api_version,
        call_options_client=config.salesforce.call_options_client,
        api_budget_percent=config.salesforce.api_budget_percent,
        http=sf_http,
        session_timeout=config.salesforce.session_timeout_seconds,
    )
    acumatica = AcumaticaClient(
        str(config.acumatica.instance_url).rstrip("/"),
        config.acumatica.endpoint_name,
        config.acumatica.endpoint_version,
        config.acumatica.tenant,
        client_id=config.acumatica.client_id,
        client_secret=_secret(acu_secrets, "client_secret", "acumatica"),
        username=config.acumatica.username,
        password=_secret(acu_secrets, "password", "acumatica"),
        refresh_token=token["refresh_token"] if token else None,
        on_refresh_token=save_refresh_token,
        requests_per_minute=config.acumatica.requests_per_minute,
        max_concurrent=config.acumatica.max_concurrent_requests,
        http=acu_http,
    )
    try:
        yield salesforce, acumatica, counters
    finally:
        try:
            await acumatica.aclose()
        finally:
            await salesforce.aclose()
            await sf_http.aclose()
            await acu_http.aclose()


@asynccontextmanager
async def open_sync(
    ws: Workspace, transports: Transports | None = None, *, dry_run: bool = False, trigger: str = "manual"
) -> AsyncIterator[SyncContext]:
    """A SyncContext over both systems for the workspace's connection."""
    async with open_clients(ws, transports) as (salesforce, acumatica, counters):
        yield SyncContext(
            config=ws.config,
            store=ws.store,
            connection_id=ws.connection_id,
            salesforce=SalesforceGateway(salesforce),
            acumatica=AcumaticaGateway(acumatica),
            ledger_born=ws.store.connection_created_at(ws.connection_id),
            dry_run=dry_run,
            trigger=trigger,
            calls=counters,
        )
