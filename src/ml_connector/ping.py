"""``ping``: tell a new user, against their real systems, whether ml-connector fits — and how to fix what doesn't.

Every check says ✔ or ✖ with the fix; checks that cannot run because an earlier one failed are
reported as skipped and do not count. Nothing is written to either system.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2

from ml_connector.acumatica import AcumaticaClient
from ml_connector.admin import Workspace
from ml_connector.config import ConnectorConfig
from ml_connector.errors import AuthError, ConfigError, ConnectorError
from ml_connector.salesforce import SalesforceClient
from ml_connector.sync import Transports, open_clients

__all__ = ["Check", "run_ping"]


@dataclass(frozen=True)
class Check:
    """One check: ``ok`` True (✔), False (✖, counts as failed) or None (skipped or not verifiable)."""

    system: str
    name: str
    ok: bool | None
    detail: str
    fix: str | None = None


def _problem(exc: Exception) -> tuple[str, str | None]:
    if isinstance(exc, ConnectorError):
        return exc.message, exc.hint
    if isinstance(exc, httpx2.HTTPError):
        return f"{type(exc).__name__}: {exc}", "check the URL, the network path and TLS"
    return f"{type(exc).__name__}: {exc}", None


async def _attempt(checks: list[Check], system: str, name: str, step: Callable[[], Awaitable[Check]]) -> bool:
    try:
        check = await step()
    except Exception as exc:
        detail, fix = _problem(exc)
        check = Check(system, name, False, detail, fix)
    checks.append(check)
    return bool(check.ok)


async def _salesforce(config: ConnectorConfig, client: SalesforceClient, transport: Any) -> list[Check]:
    checks: list[Check] = []
    sf = config.salesforce
    mapping = config.mapping
    token: Any = None

    async def get_token() -> Check:
        nonlocal token
        token = await client.token()
        return Check(
            "salesforce", "token obtained", True, f"client credentials accepted (org {token.org_id})"
        )

    if not await _attempt(checks, "salesforce", "token obtained", get_token):
        checks += [Check("salesforce", name, None, "skipped: no token") for name in
                   ("instance_url", "API version", "custom fields", "read permission", "API headroom")]  # fmt: skip
        return checks

    async def instance() -> Check:
        url = str(token.instance_url)
        secure = url.startswith("https://") or url.startswith(
            ("http://127.", "http://localhost", "http://[::1]")
        )
        return Check("salesforce", "instance_url", secure, f"API calls go to {url}",
                     None if secure else "the token endpoint returned a non-HTTPS instance_url: check My Domain")  # fmt: skip

    async def version() -> Check:
        async with httpx2.AsyncClient(transport=transport, timeout=30.0) as http:
            response = await http.get(f"{token.instance_url}/services/data/")
        offered = [str(v.get("version")) for v in response.json()] if response.status_code == 200 else []
        if sf.api_version in offered:
            return Check("salesforce", "API version", True, f"{sf.api_version} is available")
        return Check("salesforce", "API version", False, f"{sf.api_version} is not offered (offered: {', '.join(offered[-6:])})",
                     f"set salesforce.api_version to one of {', '.join(offered[-3:])}")  # fmt: skip

    async def fields() -> Check:
        wanted = {
            "Account": {
                mapping.account_customer_id_field: "external_unique",
                mapping.account_status_field: "update",
                mapping.account_credit_limit_field: "update",
                mapping.account_ar_balance_field: "update",
                mapping.account_synced_at_field: "update",
            },
            "Product2": {mapping.product_item_field: "exists"},
            "Order": {
                f: "update"
                for f in (mapping.order_invoice_nbr_field, mapping.order_invoice_status_field)
                if f
            },
        }
        problems = []
        for sobject, needs in wanted.items():
            described = {f["name"]: f for f in (await client.describe(sobject))["fields"]}
            for name, need in needs.items():
                found = described.get(name)
                if found is None:
                    problems.append(f"{sobject}.{name} is missing")
                elif need == "external_unique" and not (found.get("externalId") and found.get("unique")):
                    problems.append(f"{sobject}.{name} must be External ID and Unique")
                elif need == "update" and not found.get("updateable"):
                    problems.append(f"{sobject}.{name} is not writable by the integration user")
        if problems:
            return Check("salesforce", "custom fields", False, "; ".join(problems),
                         "create the fields listed in the README (Setup > Object Manager) and grant the "
                         "integration user field-level access")  # fmt: skip
        return Check("salesforce", "custom fields", True, "all mapped fields exist with the right properties")

    async def readable() -> Check:
        blocked = []
        for sobject in ("Account", "Contact", "Order", "OrderItem", "Product2", "PricebookEntry"):
            if not (await client.describe(sobject)).get("queryable", False):
                blocked.append(sobject)
        if blocked:
            return Check("salesforce", "read permission", False, f"cannot query {', '.join(blocked)}",
                         "give the integration user Read on these objects (permission set)")  # fmt: skip
        return Check(
            "salesforce", "read permission", True, "Account, Contact, Order, OrderItem, Product2 readable"
        )

    async def headroom() -> Check:
        limits = await client.limits()
        daily = limits.get("DailyApiRequests", {})
        most, left = int(daily.get("Max", 0)), int(daily.get("Remaining", 0))
        used = 100.0 * (most - left) / most if most else 100.0
        ok = used < sf.api_budget_percent
        return Check("salesforce", "API headroom", ok,
                     f"{most - left:,} of {most:,} daily API requests used ({used:.1f} %; budget {sf.api_budget_percent:g} %)",
                     None if ok else "wait for the 24-hour allocation to recover, or raise api_budget_percent")  # fmt: skip

    for name, step in (("instance_url", instance), ("API version", version), ("custom fields", fields),
                       ("read permission", readable), ("API headroom", headroom)):  # fmt: skip
        await _attempt(checks, "salesforce", name, step)
    return checks


async def _acumatica(config: ConnectorConfig, client: AcumaticaClient) -> list[Check]:
    checks: list[Check] = []
    acu = config.acumatica

    async def endpoint() -> Check:
        offered = await client.endpoint_versions()
        names = [f"{e.get('name')}/{e.get('version')}" for e in offered]
        wanted = f"{acu.endpoint_name}/{acu.endpoint_version}"
        if wanted in names:
            return Check("acumatica", "endpoint version", True, f"{wanted} is available")
        return Check("acumatica", "endpoint version", False, f"{wanted} is not offered (offered: {', '.join(names)})",
                     f"set acumatica.endpoint_version to one of: {', '.join(names)}")  # fmt: skip

    if not await _attempt(checks, "acumatica", "endpoint version", endpoint):
        checks += [Check("acumatica", n, None, "skipped: no usable endpoint") for n in
                   ("token obtained", "entities reachable", "stock items on invoices", "rate limits")]  # fmt: skip
        return checks

    async def first(entity: str, **params: Any) -> dict[str, Any] | None:
        async for record in client.list(entity, page_size=1, **params):
            return record
        return None

    async def login() -> Check:
        await first("Customer", select=["CustomerID"])
        return Check(
            "acumatica", "token obtained", True, f"signed in to tenant {acu.tenant} as {acu.username}"
        )

    if not await _attempt(checks, "acumatica", "token obtained", login):
        checks += [Check("acumatica", n, None, "skipped: not signed in") for n in
                   ("entities reachable", "stock items on invoices", "rate limits")]  # fmt: skip
        return checks

    async def entities() -> Check:
        failed = []
        for entity in ("Customer", "Contact", "StockItem", "SalesInvoice", "Payment"):
            try:
                await first(entity)
            except (AuthError, ConfigError, ConnectorError) as exc:
                failed.append(f"{entity} ({exc.message})")
        if failed:
            return Check("acumatica", "entities reachable", False, "; ".join(failed),
                         "give the API user's role access to AR303000, CR302000, IN202500, SO303000, AR302000")  # fmt: skip
        return Check(
            "acumatica", "entities reachable", True, "Customer, Contact, StockItem, SalesInvoice, Payment"
        )

    async def stock_lines() -> Check:
        async for invoice in client.list("SalesInvoice", expand=["Details"], page_size=20):
            for line in invoice.get("Details") or []:
                if line.get("InventoryID"):
                    return Check("acumatica", "stock items on invoices", True,
                                 f"invoice {invoice.get('ReferenceNbr')} has a stock item line (Advanced SO Invoices on)")  # fmt: skip
        return Check("acumatica", "stock items on invoices", None,
                     "no invoice with a stock item yet: cannot be checked without writing",
                     "make sure the Advanced SO Invoices feature is enabled; orders park with a clear reason if not")  # fmt: skip

    async def limits() -> Check:
        if acu.requests_per_minute is None:
            return Check("acumatica", "rate limits", None, "requests_per_minute not set: the server will pace us",
                         "set acumatica.requests_per_minute to your licence's figure to avoid throttling")  # fmt: skip
        return Check("acumatica", "rate limits", True,
                     f"paced under {acu.requests_per_minute}/min, at most {acu.max_concurrent_requests} at once")  # fmt: skip

    for name, step in (
        ("entities reachable", entities),
        ("stock items on invoices", stock_lines),
        ("rate limits", limits),
    ):
        await _attempt(checks, "acumatica", name, step)
    return checks


async def run_ping(ws: Workspace, transports: Transports | None = None) -> list[Check]:
    """Every check against both systems; the caller exits with the number of failed ones."""
    transports = transports or Transports()
    try:
        async with open_clients(ws, transports) as (salesforce, acumatica, _counters):
            checks = await _salesforce(ws.config, salesforce, transports.salesforce)
            checks += await _acumatica(ws.config, acumatica)
    except ConfigError as exc:
        return [Check("setup", "credentials", False, exc.message, exc.hint)]
    return checks
