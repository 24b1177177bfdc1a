"""Real time: activation → invoice with ``ml-connector run`` going.

The sandboxes (Salesforce 40 ms, Acumatica 120 ms, licence 1,200 a minute and 8 at once, the real
minute) serve in one process and ``ml-connector run`` in another; its start poll brings the seeded
accounts across. Then, one after another, a sales rep creates a draft order with one stock line and
activates it through the REST API; the clock starts when the activation's answer arrives and stops
when Acumatica holds the invoice (the sandbox process is asked every 10 ms). p50 and p95 over the
activations are compared with the sandbox latency every activation must wait for at least: one
Salesforce read of the order and one Acumatica PUT of the invoice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_connector.config import load_config
from ml_connector.salesforce import SalesforceClient

if TYPE_CHECKING:
    from bench.run import Sandboxes, Scale

ITEM = "LUM2X4-8"  # a stock item the seeded Acumatica tenant sells


async def _first(rep: SalesforceClient, soql: str) -> dict[str, Any]:
    async for record in rep.query(soql):
        return record
    raise RuntimeError(f"nothing answers {soql}")


async def _activations(pair: Sandboxes, count: int, accounts: int, wait_limit: float) -> dict[str, Any]:
    sf = pair.info["salesforce"]
    async with SalesforceClient(
        sf["url"], sf["client_id"], sf["client_secret"], call_options_client="sales-rep"
    ) as rep:
        deadline = time.monotonic() + 120
        linked: list[str] = []
        while len(linked) < accounts:  # the daemon's start poll brings the accounts across
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(linked)} of {accounts} accounts have a customer after 120 s")
            await asyncio.sleep(0.5)
            linked = [
                a["Id"]
                async for a in rep.query("SELECT Id FROM Account WHERE Acumatica_Customer_ID__c != null")
            ]
        product = await _first(rep, f"SELECT Id FROM Product2 WHERE ERP_Item_No__c = '{ITEM}'")
        book = await _first(rep, "SELECT Id FROM Pricebook2 WHERE IsStandard = true")
        entry = await _first(
            rep,
            f"SELECT Id FROM PricebookEntry WHERE Product2Id = '{product['Id']}' AND Pricebook2Id = '{book['Id']}'",
        )
        seconds: list[float] = []
        missed = 0
        for n in range(count):
            order_id = await rep.create("Order", {"AccountId": linked[n % len(linked)], "Pricebook2Id": book["Id"],
                                                 "EffectiveDate": "2026-11-26", "Status": "Draft"})  # fmt: skip
            await rep.create("OrderItem", {"OrderId": order_id, "PricebookEntryId": entry["Id"],
                                           "Quantity": 1 + n % 7, "UnitPrice": 4.98})  # fmt: skip
            number = (await _first(rep, f"SELECT OrderNumber FROM Order WHERE Id = '{order_id}'"))[
                "OrderNumber"
            ]
            await rep.update("Order", order_id, {"Status": "Activated"})
            started = time.perf_counter()
            while not pair.ask(f"invoiced {number}")["invoiced"]:
                if time.perf_counter() - started > wait_limit:
                    missed += 1
                    break
                await asyncio.sleep(0.01)
            else:
                seconds.append(time.perf_counter() - started)
    return {"seconds": seconds, "missed": missed}


def _wait_connected(status_file: Path, daemon: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"ml-connector run exited with {daemon.returncode}")
        try:
            if json.loads(status_file.read_text())["cdc"]["connected"]:
                return
        except (FileNotFoundError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise RuntimeError("ml-connector run did not connect to the Pub/Sub sandbox within a minute")


def measure(directory: Path, scale: Scale, *, quick: bool) -> dict[str, Any]:
    """The activation → invoice figures (p50, p95, the sandbox latency they are compared with)."""
    from bench.run import sandboxes

    real_minute = replace(scale, window=60.0, rpm=1200)
    count, accounts = (12, 6) if quick else (200, 20)
    with sandboxes(directory, real_minute, accounts=accounts, contacts_per_account=0, orders=0,
                   limits=True, latency=True) as pair:  # fmt: skip
        status_file = load_config(pair.config).data_path / "run-status.json"
        env = {
            **os.environ,
            "ML_CONNECTOR_ACUMATICA__REQUESTS_PER_MINUTE": str(real_minute.rpm),
            "ML_CONNECTOR_ACUMATICA__MAX_CONCURRENT_REQUESTS": str(real_minute.max_concurrent),
        }
        log = (directory / "run.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "ml_connector", "--config", str(pair.config), "run"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_connected(status_file, daemon)
            found = asyncio.run(_activations(pair, count, accounts, wait_limit=30.0))
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log.close()
    seconds = sorted(found["seconds"])
    if len(seconds) < 2:
        return {"note": f"not measured: {len(seconds)} of {count} activations became invoices", **found}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "activations": count,
        "invoiced": len(seconds),
        "missed": found["missed"],
        "p50_seconds": round(cuts[49], 3),
        "p95_seconds": round(cuts[94], 3),
        "max_seconds": round(seconds[-1], 3),
        "sandbox_latency_seconds": (real_minute.sf_latency_ms + real_minute.acu_latency_ms) / 1000,
    }
