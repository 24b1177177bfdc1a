"""``ml-connector run``: CDC in real time against the sandboxes' Pub/Sub fake, polls as the net."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import stamina

from ml_connector.admin import Workspace, open_workspace
from ml_connector.daemon import ConnectorDaemon, read_run_status, running, single_instance
from ml_connector.errors import ConfigError
from ml_connector.salesforce import SalesforceClient
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox._serve import SandboxPair, SeedSize, write_config
from ml_connector.store import LinkStatus
from ml_connector.sync import Transports

FAST = {"backoff_initial": 0.05, "backoff_max": 0.2, "position_probe_timeout": 10.0}


class Live:
    """Seeded sandboxes with the Pub/Sub fake serving on loopback, and a workspace wired to them."""

    def __init__(self, pair: SandboxPair, ws: Workspace) -> None:
        self.pair, self.ws = pair, ws

    @property
    def transports(self) -> Transports:
        return Transports(
            SandboxTransport(self.pair.salesforce.app), SandboxTransport(self.pair.acumatica.app)
        )

    def daemon(self, **options: Any) -> ConnectorDaemon:
        return ConnectorDaemon(self.ws, self.transports, pubsub_endpoint=self.pair.pubsub.endpoint,
                               status_interval=0.2, subscriber_options=FAST, **options)  # fmt: skip

    def rep(self) -> SalesforceClient:
        sf = self.pair.salesforce
        return SalesforceClient(sf.base_url, sf.client_id, sf.client_secret, call_options_client="sales-rep",
                                transport=SandboxTransport(sf.app))  # fmt: skip

    def acumatica_writes(self) -> int:
        calls = self.pair.acumatica.control.stats.snapshot()["calls"]
        return sum(n for key, n in calls.items() if key.split(" ")[0] in ("PUT", "POST") and "/entity/" in key
                   and "/auth/" not in key)  # fmt: skip


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Live]:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    stamina.set_testing(True, attempts=3)
    pair = SandboxPair.create(SeedSize(seed=21, accounts=30, contacts_per_account=2, orders=6))
    pair.pubsub.keepalive_seconds = 0.5  # quick first answer on a LATEST stream (the real one: ≤ 270 s)
    await pair.pubsub.start()
    ws = open_workspace(write_config(pair, tmp_path / "ws"))
    try:
        yield Live(pair, ws)
    finally:
        ws.close()
        await pair.pubsub.stop()
        stamina.set_testing(False)


async def _new_activated_order(live: Live) -> tuple[str, str]:
    sf = live.pair.salesforce
    account = next(a for a in sf.records("Account") if a.get("Acumatica_Customer_ID__c"))
    book = next(b for b in sf.records("Pricebook2") if b.get("IsStandard"))
    product = next(p for p in sf.records("Product2") if p["ERP_Item_No__c"] == "LUM2X4-8")
    entry = next(e for e in sf.records("PricebookEntry") if e["Product2Id"] == product["Id"])
    async with live.rep() as rep:
        order_id = await rep.create("Order", {"AccountId": account["Id"], "Pricebook2Id": book["Id"],
                                             "EffectiveDate": "2026-11-26", "Status": "Draft"})  # fmt: skip
        await rep.create("OrderItem", {"OrderId": order_id, "PricebookEntryId": entry["Id"], "Quantity": 40,
                                       "UnitPrice": 4.98})  # fmt: skip
        await rep.update("Order", order_id, {"Status": "Activated"})
    number = next(o for o in sf.records("Order") if o["Id"] == order_id)["OrderNumber"]
    return order_id, number


async def test_activation_becomes_an_invoice_without_a_poll_and_write_backs_cause_no_echo(live: Live) -> None:
    async with running(live.daemon()) as daemon:
        polls_before = daemon.stats.polls
        order_id, number = await _new_activated_order(live)

        def invoiced() -> bool:
            return any(i.get("CustomerOrder") == number for i in live.pair.acumatica.records("SalesInvoice"))

        await eventually(invoiced)
        assert daemon.stats.polls == polls_before  # the invoice came from the change event, not a poll
        await eventually(lambda: bool(next(o for o in live.pair.salesforce.records("Order")
                                           if o["Id"] == order_id).get("Acumatica_Invoice_Nbr__c")))  # fmt: skip
        writes = live.acumatica_writes()
        await asyncio.sleep(1.0)  # the write-back's own change event arrives and is dropped
        assert live.acumatica_writes() == writes
        assert daemon.stats.dropped_echo >= 1
        status = read_run_status(live.ws)
        assert status is not None and status["cdc"]["connected"] is True and status["events"] >= 1
    invoices = [i for i in live.pair.acumatica.records("SalesInvoice") if i.get("CustomerOrder") == number]
    assert len(invoices) == 1 and invoices[0]["Details"][0]["Qty"] == 40


async def test_offline_past_the_replay_window_catches_up_every_change_once(live: Live) -> None:
    async with running(live.daemon()):
        pass  # first run: initial polls, replay position stored
    assert live.ws.store.get_replay_id(live.ws.connection_id, "/data/ChangeEvents") is not None
    contacts = live.pair.salesforce.records("Contact")[:50]
    async with live.rep() as rep:
        for n, contact in enumerate(contacts):
            await rep.update("Contact", contact["Id"], {"Title": f"Buyer {n}"})
    live.pair.clock.advance(80 * 3600)
    acu_before = len(live.pair.acumatica.records("Contact"))
    async with running(live.daemon(poll_at_start=False)) as daemon:
        await eventually(lambda: daemon.stats.catch_ups == 1)
        assert daemon.subscriber is not None and daemon.subscriber.replay_losses == 1
    acu_contacts = {c.get("ExtRefNbr"): c for c in live.pair.acumatica.records("Contact")}
    assert len(live.pair.acumatica.records("Contact")) == acu_before  # nothing duplicated
    for n, contact in enumerate(contacts):
        assert acu_contacts[contact["Id"]]["JobTitle"] == f"Buyer {n}"


async def test_gap_event_rereads_the_record(live: Live) -> None:
    async with running(live.daemon()) as daemon:
        account = live.pair.salesforce.records("Account")[0]
        link_before = live.ws.store.get_link(live.ws.connection_id, "accounts", account["Id"])
        assert link_before is not None and link_before.status is LinkStatus.SYNCED
        live.pair.pubsub.inject_gap("Account", [account["Id"]])
        await eventually(lambda: daemon.stats.synced_from_cdc >= 1)


def test_only_one_run_per_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    pair = SandboxPair.create(None)
    ws = open_workspace(write_config(pair, tmp_path / "ws"))
    try:
        with single_instance(ws):
            with pytest.raises(ConfigError, match="already serves") as info, single_instance(ws):
                pass
            assert "--standby" in (info.value.hint or "")
        with single_instance(ws):  # released: the next one gets it
            pass
    finally:
        ws.close()


async def test_refused_credentials_stop_the_daemon_loudly(live: Live) -> None:
    from pydantic import SecretStr

    from ml_connector.admin import set_credentials
    from ml_connector.errors import AuthError

    set_credentials(live.ws, "salesforce", {"client_secret": SecretStr("wrong-secret")})
    with pytest.raises(AuthError) as info:
        async with running(live.daemon()):
            pass
    assert info.value.hint
