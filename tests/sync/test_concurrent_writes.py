"""Record writes of a page run side by side, up to the Acumatica client's in-flight limit (issue 8)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sync_env import make_env

from ml_connector.errors import RecordError
from ml_connector.sandbox._serve import SeedSize
from ml_connector.store import LinkStatus
from ml_connector.sync import open_sync
from ml_connector.sync._gateways import LOOKUP_BATCH, each_concurrently


async def test_each_concurrently_keeps_item_order_caps_the_overlap_and_hands_back_exceptions() -> None:
    running = 0
    peak = 0

    async def work(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (10 - n))  # later items finish first
        running -= 1
        if n == 3:
            raise RecordError("refused")
        return n * n

    results = await each_concurrently(list(range(10)), work, limit=4)
    assert peak == 4
    assert [r if not isinstance(r, Exception) else "error" for r in results] == [
        0, 1, 4, "error", 16, 25, 36, 49, 64, 81,
    ]  # fmt: skip
    assert isinstance(results[3], RecordError)


@pytest.mark.parametrize("max_concurrent", [1, 4])
async def test_accounts_and_contacts_are_written_side_by_side_each_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_concurrent: int
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__MAX_CONCURRENT_REQUESTS", str(max_concurrent))
    env = make_env(
        tmp_path, SeedSize(seed=3, accounts=8, contacts_per_account=2, orders=0), seat_limit=None,
        max_concurrent=8,
    )  # fmt: skip
    try:
        env.pair.acumatica.control.set_faults({"latency_ms": 15})
        report = await env.sync("accounts", "contacts")
        assert report.ok, report.results
        # The sandbox saw as many requests at once as the client allows, never more.
        assert env.pair.acumatica.limit_stats.max_active == max_concurrent
        accounts = env.sf("Account")
        customers = [c for c in env.acu("Customer") if c.get("AccountRef")]
        assert sorted(c["AccountRef"] for c in customers) == sorted(a["Id"] for a in accounts)
        contact_refs = [c["ExtRefNbr"] for c in env.acu("Contact") if c.get("ExtRefNbr")]
        assert sorted(contact_refs) == sorted(c["Id"] for c in env.sf("Contact"))
        for account in accounts:
            link = env.ws.store.get_link(env.ws.connection_id, "accounts", account["Id"])
            assert link is not None and link.status is LinkStatus.SYNCED
            assert account["Acumatica_Customer_ID__c"] == link.target_key
        before = env.data_writes()
        assert (await env.sync("accounts", "contacts")).ok
        assert env.data_writes() == before  # nothing changed: the second pass writes nothing
    finally:
        env.ws.close()


async def test_orders_are_invoiced_side_by_side_and_never_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__MAX_CONCURRENT_REQUESTS", "4")
    env = make_env(
        tmp_path, SeedSize(seed=11, accounts=4, contacts_per_account=0, orders=16, activated_ratio=1.0),
        seat_limit=None, max_concurrent=8,
    )  # fmt: skip
    try:
        assert (await env.sync("accounts")).ok
        env.pair.acumatica.control.stats.reset()
        env.pair.acumatica.control.set_faults({"latency_ms": 15})
        env.pair.acumatica._limiter.stats.max_active = 0
        report = await env.sync("orders")
        assert report.ok, report.results
        assert env.pair.acumatica.limit_stats.max_active == 4
        synced = 0
        for order in env.activated_orders():
            link = env.ws.store.get_link(env.ws.connection_id, "orders", order["Id"])
            assert link is not None
            invoices = env.invoices_for(order["OrderNumber"])
            if link.status is LinkStatus.SYNCED:
                synced += 1
                assert [i["ReferenceNbr"] for i in invoices] == [link.target_key]
                assert order["Acumatica_Invoice_Nbr__c"] == link.target_key
            else:
                assert invoices == []
        assert synced >= 4
    finally:
        env.ws.close()


async def test_batched_lookups_run_their_list_calls_side_by_side_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__MAX_CONCURRENT_REQUESTS", "3")
    env = make_env(tmp_path, SeedSize(seed=3, accounts=2, contacts_per_account=0, orders=0), seat_limit=None,
                   max_concurrent=8)  # fmt: skip
    try:
        known = [str(c["CustomerID"]) for c in env.acu("Customer")]
        wanted = [f"NOPE{n:04d}" for n in range(5 * LOOKUP_BATCH)] + known  # six list calls
        env.pair.acumatica.control.set_faults({"latency_ms": 15})
        async with open_sync(env.ws, env.transports) as ctx:
            await ctx.acumatica.client.endpoint_versions()
            env.pair.acumatica._limiter.stats.max_active = 0
            found = await ctx.acumatica.customers(wanted)
        assert sorted(found) == sorted(known)
        assert env.pair.acumatica.limit_stats.max_active == 3
    finally:
        env.ws.close()
