"""AcumaticaClient against the sandbox: reads, writes, errors, create-once, actions, load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx2
import pytest
import uvicorn

from ml_connector.acumatica import AcumaticaClient, odata
from ml_connector.errors import ConfigError, NotFound, RecordError, Retryable
from ml_connector.sandbox._control import SandboxTransport
from ml_connector.sandbox.acumatica import AcumaticaSandbox

ORDER = {
    "Type": "Invoice",
    "CustomerID": "C00001",
    "CustomerOrder": "CRM-10045",
    "Hold": False,
    "Details": [{"InventoryID": "LUM2X4-8", "Qty": Decimal("10"), "TransactionDescr": "studs"}],
}


async def test_wrong_endpoint_version_fails_listing_the_versions_offered(make_client):
    client = make_client(endpoint_version="21.200.001")
    with pytest.raises(ConfigError) as caught:
        await client.get("Customer", "C00001")
    message = str(caught.value)
    assert "Default/21.200.001" in message
    for offered in (
        "Default/20.200.001",
        "Default/22.200.001",
        "Default/23.200.001",
        "Default/24.200.001",
        "Default/25.200.001",
    ):
        assert offered in message


async def test_endpoint_versions_reads_get_entity(client):
    versions = await client.endpoint_versions()
    assert {
        "name": "Default",
        "version": "24.200.001",
        "href": "/AcumaticaERP/entity/Default/24.200.001/",
    } in versions


async def test_get_returns_plain_typed_record_with_expanded_links(client):
    customer = await client.get(
        "Customer", "C00001", expand=["MainContact", "MainContact/Address", "CreditVerificationRules"]
    )
    assert customer["CustomerID"] == "C00001"
    assert isinstance(customer["CreditLimit"], Decimal)
    assert customer["LastModifiedDateTime"].tzinfo is not None
    assert customer["AccountRef"] is None
    assert customer["MainContact"]["Address"]["Country"] == "US"
    assert isinstance(customer["CreditVerificationRules"]["RemainingCreditLimit"], Decimal)
    by_id = await client.get_by_id("Customer", customer["id"])
    assert by_id["CustomerID"] == "C00001"


async def test_key_with_slash_is_read_through_a_filter(client):
    item = await client.get("StockItem", "PLY-CDX-1/2")
    assert item["Description"] == "Plywood CDX 1/2in 4x8"


async def test_missing_record_is_not_found_and_not_retried(client, sandbox):
    sandbox.control.stats.reset()
    with pytest.raises(NotFound):
        await client.get("Customer", "NOSUCH")
    assert sandbox.control.stats.total("GET") == 2  # GET /entity once, then the one miss


async def test_unknown_select_field_is_a_config_error(client):
    with pytest.raises(ConfigError):
        await client.get("Customer", "C00001", select=["CustomerID", "Nope"])


async def test_list_pages_with_top_and_skip_and_filters(client, sandbox):
    sandbox.control.stats.reset()
    items = [
        r
        async for r in client.list(
            "StockItem", filter=odata.field("ItemStatus").eq("Active"), select=["InventoryID"], page_size=5
        )
    ]
    assert len(items) == 20  # 21 stock items, one No Sales
    assert len({i["InventoryID"] for i in items}) == 20
    assert sandbox.control.stats.total("GET") == 1 + 5  # endpoint check + 4 full pages + 1 empty


async def test_put_422_becomes_record_error_with_field_paths(client, sandbox):
    bad = {**ORDER, "Details": [{"InventoryID": "TILE-PORC-12", "Qty": Decimal(1)}]}
    with pytest.raises(RecordError) as caught:
        await client.put("SalesInvoice", bad, expand=["Details"])
    assert (
        caught.value.field_errors["Details/0/InventoryID"] == "'Inventory ID' cannot be found in the system."
    )
    assert not any(i["CustomerOrder"] == "CRM-10045" for i in sandbox.records("SalesInvoice"))


async def test_two_puts_without_key_make_two_invoices_but_create_once_makes_one(client, sandbox):
    first = await client.put("SalesInvoice", ORDER)
    second = await client.put("SalesInvoice", ORDER)
    assert first["ReferenceNbr"] != second["ReferenceNbr"]
    assert sum(1 for i in sandbox.records("SalesInvoice") if i["CustomerOrder"] == "CRM-10045") == 2

    again = {**ORDER, "CustomerOrder": "CRM-20001"}
    created, was_new = await client.create_once("SalesInvoice", again)
    repeat, repeat_new = await client.create_once("SalesInvoice", again)
    assert was_new and not repeat_new
    assert repeat["ReferenceNbr"] == created["ReferenceNbr"]
    assert sum(1 for i in sandbox.records("SalesInvoice") if i["CustomerOrder"] == "CRM-20001") == 1


class _LoseFirstPut(httpx2.AsyncBaseTransport):
    """Applies the first PUT, then drops the connection (what a timeout after commit looks like)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "PUT" and self.lost == 0:
            self.lost += 1
            await response.aread()
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            )
        return response


async def test_lost_response_on_keyless_put_is_not_blindly_retried(make_client, sandbox):
    client = make_client(transport=_LoseFirstPut(SandboxTransport(sandbox.app)))
    with pytest.raises(Retryable):
        await client.put("SalesInvoice", {**ORDER, "CustomerOrder": "CRM-LOST"})
    assert sum(1 for i in sandbox.records("SalesInvoice") if i["CustomerOrder"] == "CRM-LOST") == 1


async def test_create_once_after_a_lost_response_finds_the_invoice_instead_of_duplicating(
    make_client, sandbox
):
    client = make_client(transport=_LoseFirstPut(SandboxTransport(sandbox.app)))
    record, created = await client.create_once("SalesInvoice", {**ORDER, "CustomerOrder": "CRM-LOST2"})
    assert created is False  # found by the lookup that followed the ambiguous failure
    assert record["CustomerOrder"] == "CRM-LOST2"
    assert sum(1 for i in sandbox.records("SalesInvoice") if i["CustomerOrder"] == "CRM-LOST2") == 1


async def test_keyed_put_is_retried_after_a_lost_response(make_client, sandbox):
    client = make_client(transport=_LoseFirstPut(SandboxTransport(sandbox.app)))
    updated = await client.put("Customer", {"CustomerID": "C00002", "Terms": "15D"})
    assert updated["Terms"] == "15D"


async def test_injected_500s_on_reads_are_retried_with_backoff(client, sandbox):
    await client.endpoint_versions()
    sandbox.control.set_faults({"error_500_rate": 0.5, "seed": 3})
    results = [await client.get("StockItem", "LUM2X4-8") for _ in range(10)]
    assert all(r["InventoryID"] == "LUM2X4-8" for r in results)
    assert sandbox.control.stats.faults["500"] > 0


async def test_put_by_filter_and_if_match_and_if_none_match(client):
    with pytest.raises(RecordError) as caught:
        await client.put("Customer", {"CustomerID": "C00001", "CustomerClass": "DEFAULT"}, if_none_match=True)
    assert caught.value.code == "412"
    with pytest.raises(RecordError):
        await client.put("Customer", {"CustomerID": "ZZNEW", "CustomerClass": "DEFAULT"}, if_match=True)
    email = (await client.get("Customer", "C00002", expand=["MainContact"]))["MainContact"]["Email"]
    renamed = await client.put(
        "Customer", {"CustomerName": "By Filter"}, filter=odata.field("MainContact/Email").eq(email)
    )
    assert renamed["CustomerID"] == "C00002" and renamed["CustomerName"] == "By Filter"


async def test_invoke_action_polls_until_done_and_the_invoice_is_open(client):
    invoice = await client.put("SalesInvoice", {**ORDER, "CustomerOrder": "CRM-REL"})
    await client.invoke_action(
        "SalesInvoice", "ReleaseSalesInvoice", {"Type": "Invoice", "ReferenceNbr": invoice["ReferenceNbr"]}
    )
    assert (await client.get("SalesInvoice", ["Invoice", invoice["ReferenceNbr"]], select=["Status"]))[
        "Status"
    ] == "Open"
    with pytest.raises(RecordError):  # releasing twice fails in the long operation
        await client.invoke_action(
            "SalesInvoice",
            "ReleaseSalesInvoice",
            {"Type": "Invoice", "ReferenceNbr": invoice["ReferenceNbr"]},
        )


async def test_modified_since_uses_the_right_field_and_overlap_and_yields_each_record_once(
    make_client, sandbox
):
    client = make_client()
    await client.put("Customer", {"CustomerID": "C00001", "Terms": "15D"})
    # the watermark comes from record values (the server's labelling), not from the local clock
    baseline = max(
        [c["LastModifiedDateTime"] async for c in client.list("Customer", select=["LastModifiedDateTime"])]
    )
    sandbox.control.clock.advance(3600)
    await client.put("Customer", {"CustomerID": "C00002", "Terms": "15D"})
    changed = [
        c["CustomerID"]
        async for c in client.modified_since("Customer", baseline, overlap=timedelta(minutes=5), page_size=2)
    ]
    assert changed == ["C00001", "C00002"]  # C00001 again through the overlap; the 30-day-old ones not
    wide = [
        c["CustomerID"]
        async for c in client.modified_since("Customer", baseline, overlap=timedelta(days=60), page_size=2)
    ]
    assert sorted(wide) == ["C00001", "C00002", "C00003", "C00004", "C00005"]
    old = make_client(endpoint_version="23.200.001")
    assert old.modified_field("StockItem") == "LastModified"
    assert len([i async for i in old.modified_since("StockItem", baseline, overlap=timedelta(days=60))]) == 21


async def test_hundred_calls_at_once_through_four_cores_and_queue_of_twenty_see_no_429(build_client):
    sb = AcumaticaSandbox(max_concurrent=4, queue_limit=20, seat_limit=2)
    sb.seed()
    sb.control.set_faults({"latency_ms": 10})
    async with build_client(sb) as client:
        results = await asyncio.gather(*(client.get("StockItem", "LUM2X4-8") for _ in range(100)))
    assert len(results) == 100 and all(r["InventoryID"] == "LUM2X4-8" for r in results)
    assert sb.limit_stats.declined == 0
    assert sb.limit_stats.max_active == 4


async def test_pacing_under_a_strict_per_minute_limit_declines_nothing(build_client):
    # A short window keeps the test fast: 8 per 1 s, strict (429 beyond 4); the client paces at 4 per
    # 2 s, leaving a second of slack for scheduling jitter on a busy machine (a 0.3 s window flaked).
    sb = AcumaticaSandbox(requests_per_minute=8, strict_limits=True, limit_window_seconds=1.0, seat_limit=2)
    sb.seed()
    async with build_client(sb, requests_per_minute=8, pace_fraction=0.5, pace_window_seconds=2.0) as client:
        results = await asyncio.gather(*(client.get("StockItem", "LUM2X4-8") for _ in range(10)))
    assert len(results) == 10
    assert sb.limit_stats.declined == 0
    assert sb.limit_stats.processed == 12  # token + endpoint list + 10 reads


async def test_client_survives_a_strict_tenant_without_pacing_by_backing_off(build_client):
    sb = AcumaticaSandbox(requests_per_minute=8, strict_limits=True, limit_window_seconds=0.3, seat_limit=2)
    sb.seed()
    async with build_client(sb, backoff_initial=0.05, backoff_max=0.4, retry_attempts=30) as client:
        results = await asyncio.gather(*(client.get("StockItem", "LUM2X4-8") for _ in range(8)))
    assert len(results) == 8
    assert sb.limit_stats.declined > 0  # 429s happened and were absorbed


@contextlib.asynccontextmanager
async def serve(sb: AcumaticaSandbox) -> AsyncIterator[str]:
    """Run the sandbox on a real loopback socket with uvicorn; yields the instance URL."""
    server = uvicorn.Server(
        uvicorn.Config(sb.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # up to 10 s for the socket to be bound
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    sb.base_url = f"http://127.0.0.1:{port}"
    try:
        yield sb.instance_url
    finally:
        server.should_exit = True
        await task


async def test_filter_value_with_quote_ampersand_and_hash_finds_exactly_that_customer_over_loopback():
    sb = AcumaticaSandbox(seat_limit=2)
    sb.seed()
    async with serve(sb) as instance_url:
        c = sb.credentials
        from pydantic import SecretStr

        async with AcumaticaClient(
            instance_url=instance_url,
            tenant="Company",
            client_id=c.client_id,
            client_secret=SecretStr(c.client_secret),
            username=c.username,
            password=SecretStr(c.password),
        ) as client:
            for name in ("O'Brien & Sons #1", "O'Brien & Sons #2", "O'Brien"):
                await client.put(
                    "Customer",
                    {
                        "CustomerID": name[-2:].strip("#& ") + "OB",
                        "CustomerName": name,
                        "CustomerClass": "DEFAULT",
                    },
                )
            found = await client.find("Customer", odata.field("CustomerName").eq("O'Brien & Sons #1"))
            assert [f["CustomerName"] for f in found] == ["O'Brien & Sons #1"]
            invoice = await client.put("SalesInvoice", {**ORDER, "CustomerOrder": "CRM-LOOP"})
            await client.invoke_action(
                "SalesInvoice",
                "ReleaseSalesInvoice",
                {"Type": "Invoice", "ReferenceNbr": invoice["ReferenceNbr"]},
            )
        assert sb.auth.seats_in_use() == 0  # signed out on close


async def test_missing_screen_rights_is_an_auth_error_naming_the_fix(build_client):
    from ml_connector.errors import AuthError

    sb = AcumaticaSandbox(read_only_entities=("SalesInvoice",), seat_limit=2)
    sb.seed()
    async with build_client(sb) as client:
        with pytest.raises(AuthError) as caught:
            await client.put("SalesInvoice", ORDER)
        assert "rights" in (caught.value.hint or "")


async def test_instance_url_without_its_path_is_a_config_error(make_client, sandbox):
    client = make_client(instance_url=sandbox.base_url)  # "/AcumaticaERP" left out
    with pytest.raises(ConfigError) as caught:
        await client.get("Customer", "C00001")
    assert "instance path" in (caught.value.hint or "")


async def test_custom_fields_round_trip_and_the_ar_balance_is_readable(client):
    written = await client.put(
        "SalesInvoice",
        {**ORDER, "CustomerOrder": "CRM-CUSTOM", "custom": {"Document": {"UsrCrmOrderId": "801xx"}}},
    )
    read = await client.get(
        "SalesInvoice", ["Invoice", written["ReferenceNbr"]], custom=["Document.UsrCrmOrderId"]
    )
    assert read["custom"] == {"Document": {"UsrCrmOrderId": "801xx"}}
    customer = await client.get("Customer", "C00001", custom=["CustomerBalance.Balance"])
    assert isinstance(customer["custom"]["CustomerBalance"]["Balance"], Decimal)
    assert customer["custom"]["CustomerBalance"]["Balance"] > 0
