"""AR balances summed from open documents in batched calls (reference §6.1 option 2, issue 8)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx2
from sync_env import Env

from ml_connector.sandbox._control import SandboxTransport
from ml_connector.store import LinkStatus
from ml_connector.sync import Transports, open_sync, run_sync
from ml_connector.sync._gateways import LOOKUP_BATCH


async def test_batched_balances_equal_the_customer_screen_balance_in_two_calls_per_batch(env: Env) -> None:
    await env.sync()
    acu = env.pair.acumatica
    cid = env.ws.connection_id
    invoices = [
        i
        for link in env.ws.store.links_by_status(cid, LinkStatus.SYNCED, "orders")
        for i in env.acu("SalesInvoice")
        if i["ReferenceNbr"] == link.target_key
    ]
    assert len(invoices) >= 3
    for invoice in invoices:
        acu.release_invoice(invoice["ReferenceNbr"])
    first, second = invoices[0], invoices[1]
    acu.apply_payment(first["CustomerID"], Decimal("10.00"), {first["ReferenceNbr"]: Decimal("10.00")})
    acu.apply_payment(second["CustomerID"], Decimal("1.00"), {second["ReferenceNbr"]: Decimal("1.00")})
    customer_ids = [str(c["CustomerID"]) for c in env.acu("Customer")]
    # A prepayment (nothing applied) of a customer without invoices: its balance goes below zero.
    idle = next(c for c in customer_ids if c not in {i["CustomerID"] for i in invoices})
    acu.apply_payment(idle, Decimal("100000.00"), {})
    expected = {c: acu.store.customer_balances("Company", c)["Balance"] for c in customer_ids}
    assert any(value != 0 for value in expected.values()) and any(value < 0 for value in expected.values())
    async with open_sync(env.ws, env.transports) as ctx:
        gets_before = ctx.calls["acumatica"].by_method["GET"]
        balances = await ctx.acumatica.customer_balances(
            [c.lower() for c in customer_ids[:1]] + customer_ids[1:]
        )
        gets = ctx.calls["acumatica"].by_method["GET"] - gets_before
    assert {k.upper(): v for k, v in balances.items()} == expected
    assert gets - 1 <= 2  # at most the endpoint check, then one SalesInvoice and one Payment list call


class Recording(SandboxTransport):
    """The sandbox in-process, noting every request's path and query."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[httpx2.URL] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(request.url)
        return await super().handle_async_request(request)


async def test_credit_flow_reads_balances_in_batches_not_one_get_per_customer(env: Env) -> None:
    await env.sync("accounts")
    acumatica = Recording(env.pair.acumatica.app)
    report = await run_sync(
        env.ws,
        ["credit"],
        full=True,
        transports=Transports(SandboxTransport(env.pair.salesforce.app), acumatica),
    )
    assert report.ok, report.results
    customers = [c for c in env.acu("Customer") if c.get("AccountRef")]
    assert len(customers) == len(env.sf("Account"))
    per_customer = [u for u in acumatica.seen if "/Customer/" in u.path or "$custom" in str(u.query)]
    assert per_customer == []
    balance_lists = [u for u in acumatica.seen if u.path.endswith(("/SalesInvoice", "/Payment"))]
    assert len(balance_lists) == 2 * -(-len(env.acu("Customer")) // LOOKUP_BATCH)
    accounts = {a["Id"]: a for a in env.sf("Account")}
    for customer in customers:
        expected = env.pair.acumatica.store.customer_balances("Company", customer["CustomerID"])["Balance"]
        assert Decimal(str(accounts[customer["AccountRef"]]["Acumatica_AR_Balance__c"])) == expected
