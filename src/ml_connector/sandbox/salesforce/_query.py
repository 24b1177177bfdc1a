"""SOQL ``query`` / ``queryAll`` resources with server-side cursors (reference §3.1–3.3)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.salesforce._rest import ApiError, Handler, RestCall, sf_errors
from ml_connector.sandbox.salesforce._soql import evaluate, parse_query

if TYPE_CHECKING:
    from ml_connector.sandbox.salesforce import SalesforceSandbox

__all__ = ["QueryCursors", "query_handler", "query_more"]

_CURSOR_LIFETIME = timedelta(days=2)  # §3.1: query locators live 2 days since API 56.0


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    batch_size: int
    expires: datetime
    resource: str


class QueryCursors:
    """Open query locators (``01g…``) with their remaining rows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cursors: dict[str, _Cursor] = {}

    def open(self, locator: str, cursor: _Cursor) -> None:
        """Remember a cursor."""
        with self._lock:
            self.cursors[locator] = cursor

    def get(self, locator: str, now: datetime) -> _Cursor | None:
        """A live cursor, or None if unknown or expired."""
        with self._lock:
            cursor = self.cursors.get(locator)
            if cursor is not None and cursor.expires < now:
                del self.cursors[locator]
                return None
            return cursor

    def clear(self) -> None:
        """Drop every cursor."""
        with self._lock:
            self.cursors.clear()


def _batch_size(header: str | None) -> int:
    """§3.3 ``Sforce-Query-Options: batchSize=N``: min 200, max 2,000, default 2,000.

    The reference gives only the bounds; values outside them are clamped to the nearest bound.
    """
    size = 2000
    for part in (header or "").replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize":
            try:
                size = int(value.strip())
            except ValueError:
                size = 2000
    return min(max(size, 200), 2000)


def query_handler(include_deleted: bool) -> Handler:
    resource = "queryAll" if include_deleted else "query"

    async def handler(sandbox: SalesforceSandbox, call: RestCall) -> Response:
        soql = call.request.query_params.get("q")
        if not soql:
            return sf_errors(400, ApiError("MALFORMED_QUERY", "A query string has to be specified"))
        parsed = parse_query(soql)
        with sandbox.org.lock:
            total, records = evaluate(
                parsed,
                soql,
                rows=sandbox.org.rows,
                lookup=sandbox.org.lookup,
                now=sandbox.control.clock.now(),
                include_deleted=include_deleted,
                version=call.version,
            )
        batch = _batch_size(call.request.headers.get("sforce-query-options"))
        if len(records) <= batch:
            return JSONResponse({"totalSize": total, "done": True, "records": records})
        locator = sandbox.org.ids.new("01g")
        sandbox.cursors.open(
            locator, _Cursor(records, batch, sandbox.control.clock.now() + _CURSOR_LIFETIME, resource)
        )
        return JSONResponse(
            {
                "totalSize": total,
                "done": False,
                "nextRecordsUrl": f"/services/data/v{call.version}/{resource}/{locator}-{batch}",
                "records": records[:batch],
            }
        )

    return handler


async def query_more(sandbox: SalesforceSandbox, call: RestCall) -> Response:
    locator, _, offset_text = str(call.request.path_params["locator"]).partition("-")
    cursor = sandbox.cursors.get(locator, sandbox.control.clock.now())
    if cursor is None or not offset_text.isdigit():
        return sf_errors(400, ApiError("INVALID_QUERY_LOCATOR", "invalid query locator"))
    offset = int(offset_text)
    page = cursor.records[offset : offset + cursor.batch_size]
    end = offset + len(page)
    body: dict[str, Any] = {"totalSize": len(cursor.records), "done": end >= len(cursor.records)}
    if not body["done"]:
        body["nextRecordsUrl"] = f"/services/data/v{call.version}/{cursor.resource}/{locator}-{end}"
    body["records"] = page
    return JSONResponse(body)
