"""Serve both sandboxes on loopback in their own process, for the chaos runs.

``python tests/reliability/sandbox_host.py --dir D --accounts N ...`` seeds a pair, serves it with
``serve_pair`` (loopback), writes ``D/ml-connector.toml`` with stored credentials, prints one JSON line
(the pair's description plus ``config``) and then answers one JSON command per stdin line with one
JSON line on stdout:

- ``{"cmd": "dump", "path": P}``: write every record the invariants need to ``P`` (read straight
  from the fakes' stores, not through the connector), answer ``{"ok": true}``;
- ``{"cmd": "finance", "release": N, "pay": M}``: release the first N balanced invoices and pay half
  of the first M of them (what people in Acumatica do), answer the references touched;
- ``{"cmd": "quit"}``: stop serving and exit.

Faults, the clock and the call statistics go through the fakes' own ``/_sandbox/`` routes over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector.sandbox._serve import SandboxPair, SeedSize, serve_pair, write_config

SF_OBJECTS = ("Account", "Contact", "Order", "OrderItem", "Product2", "PricebookEntry")
ACU_ENTITIES = ("Customer", "Contact", "SalesInvoice")


def dump(pair: SandboxPair, path: Path) -> None:
    """Write the records of both fakes (and each customer's AR balance) as JSON to ``path``."""
    acu = pair.acumatica
    tenant = acu.tenant_names[0]
    body: dict[str, Any] = {
        "salesforce": {name: pair.salesforce.records(name) for name in SF_OBJECTS},
        "acumatica": {name: acu.records(name) for name in ACU_ENTITIES},
    }
    body["balances"] = {
        str(c["CustomerID"]): acu.store.customer_balances(tenant, str(c["CustomerID"]))["Balance"]
        for c in body["acumatica"]["Customer"]
    }
    path.write_text(json.dumps(body, default=str))


def finance(pair: SandboxPair, release: int, pay: int) -> dict[str, Any]:
    """Release some balanced invoices and take part payments on some of them."""
    acu = pair.acumatica
    balanced = [i for i in acu.records("SalesInvoice") if i.get("Status") == "Balanced"]
    balanced.sort(key=lambda i: str(i["ReferenceNbr"]))
    released = []
    for invoice in balanced[:release]:
        acu.release_invoice(str(invoice["ReferenceNbr"]), str(invoice.get("Type", "Invoice")))
        released.append(str(invoice["ReferenceNbr"]))
    paid = []
    for invoice in balanced[:pay]:
        half = (Decimal(str(invoice["Amount"])) / 2).quantize(Decimal("0.01"))
        acu.apply_payment(str(invoice["CustomerID"]), half, {str(invoice["ReferenceNbr"]): half})
        paid.append(str(invoice["ReferenceNbr"]))
    return {"released": released, "paid": paid}


async def serve(args: argparse.Namespace) -> None:
    size = SeedSize(
        seed=args.seed,
        accounts=args.accounts,
        contacts_per_account=args.contacts_per_account,
        orders=args.orders,
        activated_ratio=args.activated_ratio,
    )
    pair = SandboxPair.create(size)
    loop = asyncio.get_running_loop()
    async with serve_pair(pair):
        info = pair.description()
        info["config"] = str(write_config(pair, Path(args.dir)))
        print(json.dumps(info), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            answer: dict[str, Any] = {"ok": True}
            if command["cmd"] == "dump":
                dump(pair, Path(command["path"]))
            elif command["cmd"] == "finance":
                answer.update(finance(pair, int(command["release"]), int(command["pay"])))
            elif command["cmd"] == "quit":
                print(json.dumps(answer), flush=True)
                return
            else:
                answer = {"ok": False, "error": f"unknown command {command['cmd']!r}"}
            print(json.dumps(answer), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--contacts-per-account", type=int, default=3)
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--activated-ratio", type=float, default=0.85)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
