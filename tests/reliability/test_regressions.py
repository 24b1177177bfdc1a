"""Regressions for defects the chaos run found, reproduced in-process with a precise fault."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
from fuzz_records import make_fuzz_env

from ml_connector.sandbox._control import SandboxTransport
from ml_connector.store import LinkStatus
from ml_connector.sync import Transports, run_sync


class FirstCreatesFail(httpx2.AsyncBaseTransport):
    """Answers 500 (before the sandbox sees it) to the first ``failures`` creates of each entity."""

    def __init__(self, inner: SandboxTransport, entities: tuple[str, ...], failures: int = 1) -> None:
        self.inner = inner
        self.left = dict.fromkeys(entities, failures)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        entity = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        if (
            request.method == "PUT"
            and self.left.get(entity, 0) > 0
            and b"ReferenceNbr" not in request.content
        ):
            self.left[entity] -= 1
            body = {"message": "An error has occurred.", "exceptionMessage": "Sandbox fault."}
            return httpx2.Response(500, json=body, request=request)
        return await self.inner.handle_async_request(request)


def test_one_500_on_a_create_is_resent_after_the_lookup_instead_of_failing_the_flow(tmp_path: Path) -> None:
    """Found by the chaos run: under 10 % 500s the contacts and orders flows never finished, because
    any one failed create (proved not made by the lookup) failed the whole flow and its page."""
    env = make_fuzz_env(tmp_path / "ws")
    try:
        pair = env.pair
        acumatica = FirstCreatesFail(SandboxTransport(pair.acumatica.app), ("Contact", "SalesInvoice"), 2)
        report = asyncio.run(
            run_sync(env.ws, (), transports=Transports(SandboxTransport(pair.salesforce.app), acumatica))
        )
        assert report.ok, [(r.flow, r.error) for r in report.results]
        assert acumatica.left == {"Contact": 0, "SalesInvoice": 0}
        store, conn = env.ws.store, env.ws.connection_id
        assert not store.links_by_status(conn, LinkStatus.IN_DOUBT)
        synced = store.links_by_status(conn, LinkStatus.SYNCED, "orders")
        invoices = pair.acumatica.records("SalesInvoice")
        for link in synced:
            assert [i["ReferenceNbr"] for i in invoices].count(link.target_key) == 1
        refs = [c.get("ExtRefNbr") for c in pair.acumatica.records("Contact") if c.get("ExtRefNbr")]
        assert sorted(refs) == sorted(c["Id"] for c in pair.salesforce.records("Contact"))
    finally:
        env.ws.close()
