"""``$filter`` grammar, paging, time zones, actions and the balance trap of the fake."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

from ml_connector.sandbox._control import SandboxClock, SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox
from ml_connector.sandbox.acumatica._odata import FilterError, parse_filter, utc_key

BASE = "/AcumaticaERP/entity/Default/24.200.001"


async def ids(http, auth, entity: str, flt: str, **params: str) -> list[str]:
    response = await http.get(f"{BASE}/{entity}", params={"$filter": flt, **params}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)  # bare array, no envelope
    key = {"Customer": "CustomerID", "StockItem": "InventoryID"}[entity]
    return [r[key]["value"] for r in body]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("CustomerID eq 'C00001'", ["C00001"]),
        ("CustomerID ne 'C00001'", ["C00002", "C00003", "C00004", "C00005"]),
        ("CustomerID gt 'C00003'", ["C00004", "C00005"]),
        ("CustomerID ge 'C00004'", ["C00004", "C00005"]),
        ("CustomerID lt 'C00002'", ["C00001"]),
        ("CustomerID le 'C00002'", ["C00001", "C00002"]),
        ("CustomerID eq 'C00001' or CustomerID eq 'C00005'", ["C00001", "C00005"]),
        ("not (CustomerID le 'C00004')", ["C00005"]),
        ("(CustomerID eq 'C00001' or CustomerID eq 'C00002') and Status eq 'Active'", ["C00001", "C00002"]),
        ("startswith(CustomerName,'Summit')", ["C00001"]),
        ("endswith(CustomerName,'Roofing')", ["C00005"]),
        ("substringof('Framing', CustomerName)", ["C00002"]),
        ("Status eq 'Credit Hold'", ["C00003"]),
        ("customerid eq 'C00001'", None),  # unknown (case matters for names) -> error below
    ],
)
async def test_filter_grammar_on_customers(http, auth, flt, expected):
    if expected is None:
        response = await http.get(f"{BASE}/Customer", params={"$filter": flt}, headers=auth)
        assert response.status_code == 500
        return
    assert await ids(http, auth, "Customer", flt) == expected


async def test_filter_on_linked_path_and_doubled_quotes(http, auth):
    await http.put(
        f"{BASE}/Customer",
        json={
            "CustomerID": {"value": "OBRIEN"},
            "CustomerName": {"value": "O'Brien & Sons #1"},
            "CustomerClass": {"value": "DEFAULT"},
            "MainContact": {"Email": {"value": "ar@obrien.example"}},
        },
        headers=auth,
    )
    assert await ids(http, auth, "Customer", "CustomerName eq 'O''Brien & Sons #1'") == ["OBRIEN"]
    assert await ids(http, auth, "Customer", "MainContact/Email eq 'ar@obrien.example'") == ["OBRIEN"]


async def test_string_comparisons_ignore_case_like_sql_server(http, auth):
    assert await ids(http, auth, "Customer", "CustomerID eq 'c00001'") == ["C00001"]


async def test_filter_on_detail_entity_is_refused(http, auth):
    response = await http.get(
        f"{BASE}/SalesInvoice", params={"$filter": "Details/InventoryID eq 'X'"}, headers=auth
    )
    assert response.status_code == 500


def test_malformed_filter_raises_filter_error():
    with pytest.raises(FilterError):
        parse_filter("CustomerID eq")
    with pytest.raises(FilterError):
        parse_filter("CustomerID equals 'x'")


def test_datetimeoffset_literal_honours_its_offset_with_utc_keys():
    expr = parse_filter("When gt datetimeoffset'2024-01-01T10:00:00+03:00'")
    after = {"When": datetime(2024, 1, 1, 7, 0, 1, tzinfo=UTC)}
    before = {"When": datetime(2024, 1, 1, 6, 59, 59, tzinfo=UTC)}
    assert expr.matches(lambda p: after[p[0]], field_datetime=utc_key, literal_datetime=utc_key)
    assert not expr.matches(lambda p: before[p[0]], field_datetime=utc_key, literal_datetime=utc_key)


async def test_top_and_skip_page_through_items_in_key_order(http, auth):
    everything = await ids(http, auth, "StockItem", "ItemStatus eq 'Active'")
    pages = []
    for skip in range(0, len(everything), 7):
        pages += await ids(
            http, auth, "StockItem", "ItemStatus eq 'Active'", **{"$top": "7", "$skip": str(skip)}
        )
    assert pages == everything == sorted(everything, key=str.casefold)
    assert await ids(http, auth, "StockItem", "InventoryID eq 'none'") == []


def _sandbox_at(label_local: bool) -> AcumaticaSandbox:
    clock = SandboxClock(datetime(2026, 1, 15, 15, 0, tzinfo=UTC))  # 10:00 in New York (EST)
    sb = AcumaticaSandbox(
        clock=clock, server_timezone="America/New_York", label_local_time_as_utc=label_local
    )
    sb.seed()
    sb.put("Customer", {"CustomerID": {"value": "TZ"}, "CustomerClass": {"value": "DEFAULT"}})
    return sb


async def _read_tz(sb: AcumaticaSandbox, flt: str) -> tuple[str, list[str]]:
    c = sb.credentials
    async with httpx2.AsyncClient(transport=SandboxTransport(sb.app), base_url=sb.base_url) as http:
        form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
                "username": c.username, "password": c.password, "scope": "api"}  # fmt: skip
        token = (await http.post("/AcumaticaERP/identity/connect/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        one = (await http.get(f"{BASE}/Customer/TZ", headers=headers)).json()["LastModifiedDateTime"]["value"]
        rows = (await http.get(f"{BASE}/Customer", params={"$filter": flt}, headers=headers)).json()
        return one, [r["CustomerID"]["value"] for r in rows]


async def test_server_local_time_labelled_utc_is_the_default_trap():
    sb = _sandbox_at(label_local=True)
    shown, found = await _read_tz(sb, "LastModifiedDateTime gt datetimeoffset'2026-01-15T14:00:00+00:00'")
    # wall clock in New York, labelled UTC (the sandbox clock runs on, hence the prefix)
    assert shown.startswith("2026-01-15T10:00:0") and shown.endswith("+00:00")
    assert found == []  # a client trusting its own UTC clock (14:00Z) misses the change made at 15:00Z
    _, found = await _read_tz(sb, "LastModifiedDateTime gt datetimeoffset'2026-01-15T09:59:00+00:00'")
    assert found == ["TZ"]  # a watermark taken from record values works


async def test_true_offsets_when_configured():
    sb = _sandbox_at(label_local=False)
    shown, found = await _read_tz(sb, "LastModifiedDateTime gt datetimeoffset'2026-01-15T14:00:00+00:00'")
    assert shown.startswith("2026-01-15T10:00:0") and shown.endswith("-05:00")
    assert found == ["TZ"]


async def test_release_action_is_202_then_polled_to_204_and_opens_the_invoice(http, auth):
    body = {
        "CustomerID": {"value": "C00002"},
        "Hold": {"value": False},
        "Details": [{"InventoryID": {"value": "LUM2X4-8"}, "Qty": {"value": 3}}],
    }
    invoice = (await http.put(f"{BASE}/SalesInvoice", json=body, headers=auth)).json()
    ref = invoice["ReferenceNbr"]["value"]
    action = {"entity": {"Type": {"value": "Invoice"}, "ReferenceNbr": {"value": ref}}, "parameters": {}}
    started = await http.post(f"{BASE}/SalesInvoice/ReleaseSalesInvoice", json=action, headers=auth)
    assert started.status_code == 202
    location = started.headers["location"]
    assert location.startswith(
        f"{BASE}/SalesInvoice/ReleaseSalesInvoice/status/".join(["http://127.0.0.1:8082", ""])
    )
    assert (await http.get(location, headers=auth)).status_code == 202
    assert (await http.get(f"{BASE}/SalesInvoice/Invoice/{ref}", headers=auth)).json()["Status"] == {
        "value": "Balanced"
    }
    assert (await http.get(location, headers=auth)).status_code == 204
    assert (await http.get(f"{BASE}/SalesInvoice/Invoice/{ref}", headers=auth)).json()["Status"] == {
        "value": "Open"
    }


async def test_unknown_action_is_404_and_releasing_an_on_hold_invoice_fails_at_poll(http, auth):
    assert (
        await http.post(f"{BASE}/SalesInvoice/Explode", json={"entity": {}}, headers=auth)
    ).status_code == 404
    body = {"CustomerID": {"value": "C00002"}, "Hold": {"value": True}, "Details": []}
    ref = (await http.put(f"{BASE}/SalesInvoice", json=body, headers=auth)).json()["ReferenceNbr"]
    action = {"entity": {"Type": {"value": "Invoice"}, "ReferenceNbr": ref}}
    location = (
        await http.post(f"{BASE}/SalesInvoice/ReleaseSalesInvoice", json=action, headers=auth)
    ).headers["location"]
    await http.get(location, headers=auth)
    failed = await http.get(location, headers=auth)
    assert failed.status_code == 500
    assert "On Hold" in failed.json()["exceptionMessage"]


async def test_release_and_payment_move_balance_but_not_customer_last_modified(http, auth, sandbox):
    def customer() -> dict:
        return next(c for c in sandbox.records("Customer") if c["CustomerID"] == "C00004")

    def balance() -> object:
        return sandbox.store.customer_balances("Company", "C00004")["Balance"]

    stamp = customer()["LastModifiedDateTime"]
    assert balance() == 0
    body = {"CustomerID": {"value": "C00004"}, "Hold": {"value": False},
            "Details": [{"InventoryID": {"value": "NAIL-16D-50"}, "Qty": {"value": 2}}]}  # fmt: skip
    ref = (await http.put(f"{BASE}/SalesInvoice", json=body, headers=auth)).json()["ReferenceNbr"]["value"]
    sandbox.control.clock.advance(60)
    sandbox.release_invoice(ref)
    assert str(balance()) == "178.00"
    read = (
        await http.get(
            f"{BASE}/Customer/C00004",
            params={"$custom": "CustomerBalance.Balance", "$expand": "CreditVerificationRules"},
            headers=auth,
        )
    ).json()
    assert read["custom"]["CustomerBalance"]["Balance"]["value"] == 178.0
    assert (
        read["CreditVerificationRules"]["RemainingCreditLimit"]["value"]
        == float(customer()["CreditLimit"]) - 178.0
    )
    sandbox.apply_payment("C00004", "100.00", {ref: "100.00"})
    assert str(balance()) == "78.00"
    assert customer()["LastModifiedDateTime"] == stamp  # the trap: the customer record did not change
    sandbox.apply_payment("C00004", "78.00", {ref: "78.00"})
    invoice = next(i for i in sandbox.records("SalesInvoice") if i["ReferenceNbr"] == ref)
    assert invoice["Status"] == "Closed" and balance() == 0


async def test_date_literal_filters_date_only_fields(http, auth):
    body = {"CustomerID": {"value": "C00001"}, "Date": {"value": "2024-07-01T00:00:00"}, "CustomerOrder": {"value": "D1"},
            "Details": []}  # fmt: skip
    await http.put(f"{BASE}/SalesInvoice", json=body, headers=auth)
    rows = (
        await http.get(f"{BASE}/SalesInvoice", params={"$filter": "Date le date'2024-07-01'"}, headers=auth)
    ).json()
    assert [r["CustomerOrder"]["value"] for r in rows] == ["D1"]
    assert rows[0]["Date"] == {"value": "2024-07-01T00:00:00+00:00"}
