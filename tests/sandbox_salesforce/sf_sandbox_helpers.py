"""Helpers shared by the Salesforce sandbox tests (a uniquely named module, not conftest)."""

from __future__ import annotations

from typing import Any

import httpx2

from ml_connector.sandbox.salesforce import SalesforceSandbox

MY_DOMAIN = "https://acme.my.salesforce.com"
V = "/services/data/v62.0"


async def fetch_token(http: httpx2.AsyncClient, sandbox: SalesforceSandbox) -> str:
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class Api:
    """Small helper: authenticated REST calls under /services/data/v62.0."""

    def __init__(self, http: httpx2.AsyncClient, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx2.Response:
        url = path if path.startswith("/services") else V + path
        return await self.http.request(method, url, headers={**self.headers, **(headers or {})}, **kw)

    async def query(self, soql: str, *, all_rows: bool = False, batch: int | None = None) -> httpx2.Response:
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else None
        return await self.call(
            "GET", "/queryAll" if all_rows else "/query", params={"q": soql}, headers=headers
        )

    async def records(self, soql: str, *, all_rows: bool = False) -> list[dict[str, Any]]:
        response = await self.query(soql, all_rows=all_rows)
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records
