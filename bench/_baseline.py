"""The script a user would write instead of the connector: sequential, one record at a time.

simple-salesforce for Salesforce (``query_all`` reads, one REST call per write-back), requests for
Acumatica (cookie sign-in, a ``$filter`` lookup before every write so a rerun does not duplicate,
one balance GET per customer). It uses the connector's own pure mapping
(``ml_connector.sync._mapping``), so both sides send the same payloads and the comparison is about
how the calls are made, not what they carry. Errors are printed and the record skipped, as such
scripts do. It reports one JSON line: wall time, calls per system, records written.

    python -m bench._baseline --sandboxes '<the JSON line bench._sandboxes printed>'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce  # type: ignore[import-untyped]

from ml_connector.acumatica._values import dumps, loads, unwrap_record, wrap_record
from ml_connector.config import load_config
from ml_connector.errors import RecordError
from ml_connector.sync._accounts import ACCOUNT_FIELDS
from ml_connector.sync._contacts import CONTACT_FIELDS
from ml_connector.sync._mapping import (
    account_to_customer,
    contact_to_acumatica,
    credit_to_account,
    customer_id_for,
    order_to_invoice,
)
from ml_connector.sync._orders import ORDER_FIELDS


class Counted(requests.Session):
    """A requests session that counts what it sends, by method."""

    def __init__(self) -> None:
        super().__init__()
        self.by_method: Counter[str] = Counter()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.by_method[str(method).upper()] += 1
        return super().request(method, url, *args, **kwargs)


class PlainHttp(requests.adapters.HTTPAdapter):
    """simple-salesforce always builds ``https://`` URLs; the loopback sandbox speaks plain HTTP."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = str(request.url).replace("https://", "http://", 1)
        return super().send(request, *args, **kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


class Script:
    """The naive sync, flow after flow."""

    def __init__(self, info: dict[str, Any]) -> None:
        config = load_config(Path(info["config"]))
        self.mapping = config.mapping
        sf = info["salesforce"]
        self.sf_http = Counted()
        token = self.sf_http.post(
            sf["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": sf["client_id"],
                "client_secret": sf["client_secret"],
            },
            timeout=60,
        ).json()
        host = token["instance_url"].split("://", 1)[1]
        self.sf_http.mount(f"https://{host}", PlainHttp())
        self.sf = Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            version="62.0",
            session=self.sf_http,
        )
        acu = info["acumatica"]
        self.acu = Counted()
        base = str(config.acumatica.instance_url).rstrip("/")
        self.acu_base = f"{base}/entity/{config.acumatica.endpoint_name}/{config.acumatica.endpoint_version}"
        response = self.acu.post(
            f"{base}/entity/auth/login",
            json={"name": acu["username"], "password": acu["password"], "tenant": acu["tenant"]},
            timeout=600,
        )
        response.raise_for_status()
        self.written = Counter[str]()
        self.errors = Counter[str]()

    # -- Acumatica helpers ------------------------------------------------------------------------
    def find(self, entity: str, field: str, value: str) -> list[dict[str, Any]]:
        response = self.acu.get(
            f"{self.acu_base}/{entity}", params={"$filter": f"{field} eq '{value}'"}, timeout=600
        )
        response.raise_for_status()
        return [unwrap_record(r) for r in loads(response.content)]

    def put(self, entity: str, payload: dict[str, Any], **params: str) -> dict[str, Any] | None:
        response = self.acu.put(
            f"{self.acu_base}/{entity}",
            data=dumps(wrap_record(payload)),
            params=params,
            headers={"Content-Type": "application/json"},
            timeout=600,
        )
        if response.status_code >= 400:
            self.errors[entity] += 1
            return None
        self.written[entity] += 1
        return unwrap_record(loads(response.content))

    # -- flows ------------------------------------------------------------------------------------
    def accounts(self) -> None:
        fields = ", ".join((*ACCOUNT_FIELDS, self.mapping.account_customer_id_field))
        for account in self.sf.query_all(f"SELECT {fields} FROM Account")["records"]:
            existing = self.find("Customer", "AccountRef", account["Id"])
            customer_id = (
                str(existing[0]["CustomerID"])
                if existing
                else customer_id_for(account, self.mapping.customer_id_strategy)
            )
            try:
                payload = dict(account_to_customer(account, self.mapping, customer_id).payload)
            except RecordError:
                self.errors["Customer"] += 1
                continue
            saved = self.put("Customer", payload)
            if saved is not None:
                self.sf.Account.update(
                    account["Id"], {self.mapping.account_customer_id_field: saved["CustomerID"]}
                )
                self.written["Account"] += 1

    def contacts(self) -> None:
        fields = ", ".join(f for f in CONTACT_FIELDS if f != "IsDeleted")
        customer_of = {
            a["Id"]: a[self.mapping.account_customer_id_field]
            for a in self.sf.query_all(f"SELECT Id, {self.mapping.account_customer_id_field} FROM Account")[
                "records"
            ]
        }
        for contact in self.sf.query_all(f"SELECT {fields} FROM Contact")["records"]:
            customer_id = customer_of.get(contact.get("AccountId"))
            if not customer_id:
                self.errors["Contact"] += 1
                continue
            existing = self.find("Contact", "ExtRefNbr", contact["Id"])
            try:
                payload = dict(contact_to_acumatica(contact, customer_id).payload)
            except RecordError:
                self.errors["Contact"] += 1
                continue
            if existing:
                payload["ContactID"] = existing[0]["ContactID"]
            self.put("Contact", payload)

    def orders(self) -> None:
        item = self.mapping.product_item_field
        fields = ", ".join(f for f in ORDER_FIELDS if f != "IsDeleted")
        children = f"(SELECT Id, Quantity, UnitPrice, Description, PricebookEntry.Product2.Name, PricebookEntry.Product2.{item} FROM OrderItems)"
        customer_of = {
            a["Id"]: a[self.mapping.account_customer_id_field]
            for a in self.sf.query_all(f"SELECT Id, {self.mapping.account_customer_id_field} FROM Account")[
                "records"
            ]
        }
        query = f"SELECT {fields}, {children} FROM Order WHERE StatusCode = 'Activated'"
        for order in self.sf.query_all(query)["records"]:
            customer_id = customer_of.get(order.get("AccountId"))
            if not customer_id or self.find("SalesInvoice", "CustomerOrder", order["OrderNumber"]):
                continue
            items = (order.get("OrderItems") or {}).get("records") or []
            try:
                payload = dict(
                    order_to_invoice(order, items, customer_id, self.mapping, with_external_ref=True).payload
                )
            except RecordError:
                self.errors["SalesInvoice"] += 1
                continue
            saved = self.put("SalesInvoice", payload, **{"$expand": "Details"})
            if saved is not None and self.mapping.order_invoice_nbr_field:
                self.sf.Order.update(
                    order["Id"], {self.mapping.order_invoice_nbr_field: saved["ReferenceNbr"]}
                )
                self.written["Order"] += 1

    def credit(self) -> None:
        response = self.acu.get(f"{self.acu_base}/Customer", timeout=600)
        response.raise_for_status()
        for customer in (unwrap_record(r) for r in loads(response.content)):
            if not customer.get("AccountRef"):
                continue
            one = self.acu.get(
                f"{self.acu_base}/Customer/{customer['CustomerID']}",
                params={"$custom": "CustomerBalance.Balance"},
                timeout=600,
            )
            balance = (
                unwrap_record(loads(one.content)).get("custom", {}).get("CustomerBalance", {}).get("Balance")
            )
            values = credit_to_account(
                customer, None if balance is None else Decimal(str(balance)), self.mapping
            )
            external = f"{self.mapping.account_customer_id_field}/{customer['CustomerID']}"
            self.sf.Account.upsert(external, {k: _plain(v) for k, v in values.items()})
            self.written["Account"] += 1

    def close(self) -> None:
        self.acu.post(f"{self.acu_base.rsplit('/entity/', 1)[0]}/entity/auth/logout", timeout=60)


def main(info: dict[str, Any]) -> dict[str, Any]:
    """Run the script once; its figures as a dict."""
    started = time.perf_counter()
    script = Script(info)
    for flow in (script.accounts, script.contacts, script.orders, script.credit):
        flow()
    script.close()
    wall = time.perf_counter() - started
    return {
        "wall_seconds": round(wall, 3),
        "calls": {"salesforce": dict(script.sf_http.by_method), "acumatica": dict(script.acu.by_method)},
        "written": dict(script.written),
        "errors": dict(script.errors),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandboxes", required=True, help="the JSON line bench._sandboxes printed")
    result = main(json.loads(parser.parse_args().sandboxes))
    sys.stdout.write(json.dumps(result) + "\n")
