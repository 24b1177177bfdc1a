"""The day-to-day commands over a live pair of sandboxes (served on loopback, as a user would)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ml_connector.cli import cli


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("live")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_connector", "sandbox", "--json", "--accounts", "4", "--orders", "8",
         "--write-config", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    yield Path(info["config"])
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_sync_status_audit_and_parked_against_live_sandboxes(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    ping = run(live, "ping")
    assert ping.exit_code == 0, ping.output
    assert "all checks passed" in ping.output

    dry = run(live, "sync", "--dry-run", "accounts")
    assert dry.exit_code == 0 and "Dry run" in dry.output and "create acumatica" in dry.output

    first = run(live, "sync")
    assert first.exit_code == 0, first.output
    assert "sync summary" in first.output and "API calls: salesforce" in first.output

    status = run(live, "status")
    assert status.exit_code == 0 and "accounts" in status.output and "ok" in status.output

    listed = run(live, "parked", "list")
    assert listed.exit_code == 0
    events = json.loads(run(live, "audit", "--flow", "accounts", "--format", "json").output)
    assert events and {e["kind"] for e in events} == {"created"}
    one = events[0]["source_id"]
    history = run(live, "audit", one)
    assert history.exit_code == 0 and "created" in history.output
    csv_out = run(live, "audit", "--status", "created", "--format", "csv").output.splitlines()
    assert csv_out[0] == "at,flow,source_id,target_key,kind,fields,message" and len(csv_out) > 1

    if "no parked records" not in listed.output:
        parked_id = listed.output.split()[1]
        skipped = run(live, "parked", "skip", parked_id, "--reason", "handled by hand")
        assert skipped.exit_code == 0 and "skipped 1" in skipped.output
        assert parked_id not in run(live, "parked", "list").output


def test_ping_with_a_wrong_endpoint_version_exits_non_zero_and_lists_versions(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__ENDPOINT_VERSION", "19.100.001")
    result = run(live, "ping")
    assert result.exit_code == 1
    assert "✖" in result.output and "24.200.001" in result.output and "fix:" in result.output


def test_demo_runs_from_nothing_and_explains_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo"), "--accounts", "5", "--orders", "8"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "sync summary" in out and "an activated order and the invoice it became" in out
    assert "data writes seen by the sandboxes during this sync: 0" in out
    assert (tmp_path / "demo" / "data" / "state.db").exists()


def test_run_daemon_invoices_an_activation_refuses_a_second_run_and_stops_on_sigterm(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import httpx2

    from ml_connector.admin import open_workspace

    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    daemon = subprocess.Popen([sys.executable, "-m", "ml_connector", "--config", str(live), "run"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        ws = open_workspace(live)
        sf_url = str(ws.config.salesforce.my_domain_url).rstrip("/")
        ws.close()
        deadline = time.monotonic() + 30
        while "CDC connected" not in run(live, "status").output:
            assert time.monotonic() < deadline, "the daemon never reported a connected CDC stream"
            time.sleep(0.2)
        assert daemon.poll() is None
        second = subprocess.run([sys.executable, "-m", "ml_connector", "--config", str(live), "run"],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert second.returncode == 2 and "already serves" in second.stderr and "--standby" in second.stderr
        invoice = asyncio.run(_activate_an_order_and_wait_for_its_invoice(live))
        assert invoice.startswith("INV")
        with httpx2.Client(base_url=sf_url) as http:
            stats = http.get("/_sandbox/stats").json()
        assert stats["total"] > 0
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    assert "stopped:" in out


async def _activate_an_order_and_wait_for_its_invoice(config: Path) -> str:
    """As a sales rep over real HTTP: a new order for a synced account, activated; returns its invoice."""
    from ml_connector.admin import open_workspace
    from ml_connector.salesforce import SalesforceClient, soql

    ws = open_workspace(config)
    secret = ws.vault().load_secrets(ws.store, ws.connection_id, "salesforce")
    ws.close()
    assert secret is not None
    async with SalesforceClient(str(ws.config.salesforce.my_domain_url).rstrip("/"), ws.config.salesforce.client_id,
                                secret["client_secret"], call_options_client="sales-rep") as rep:  # fmt: skip
        account = await _first(
            rep.query("SELECT Id FROM Account WHERE Acumatica_Customer_ID__c != null LIMIT 1")
        )
        book = await _first(rep.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true"))
        entry = await _first(
            rep.query(
                soql.format("SELECT Id FROM PricebookEntry WHERE Product2.ERP_Item_No__c = {}", "OSB-7/16")
            )
        )
        order_id = await rep.create("Order", {"AccountId": account["Id"], "Pricebook2Id": book["Id"],
                                              "EffectiveDate": "2026-11-26", "Status": "Draft"})  # fmt: skip
        await rep.create("OrderItem", {"OrderId": order_id, "PricebookEntryId": entry["Id"], "Quantity": 3,
                                       "UnitPrice": 18.75})  # fmt: skip
        await rep.update("Order", order_id, {"Status": "Activated"})
        for _ in range(200):
            order = await rep.get("Order", order_id, ["Acumatica_Invoice_Nbr__c"])
            if order.get("Acumatica_Invoice_Nbr__c"):
                return str(order["Acumatica_Invoice_Nbr__c"])
            await asyncio.sleep(0.1)
    raise AssertionError("no invoice number came back to the order within 20 s")


async def _first(records: Any) -> Any:
    async for record in records:
        return record
    raise AssertionError("the query found nothing")
