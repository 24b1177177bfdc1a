"""The async Salesforce REST client: query, read, describe, upsert and update (reference §2–§4).

Which calls are resent after a failure whose outcome is unknown (connection dropped after the
request was sent, timeout, 5xx, ``SERVER_UNAVAILABLE``):

* **Resent** — reads (``query``/``queryAll`` pages, ``get``, ``describe``, ``limits``) change nothing;
  **upserts by external id** (single and collections) converge on the same record however often they
  run (§4.2: a lost "created" answer comes back as "updated" on the resend, never a duplicate);
  **updates by Id** (``PATCH /sobjects/{type}/{id}``, collections ``PATCH``) are idempotent — a resend
  writes the same values again (one more ``LastModifiedDate`` bump and change event, nothing else).
* **Never resent blindly** — **creates** (``POST``) and deletes: a resend after a lost answer can
  create a duplicate. They are retried only when the request provably never reached Salesforce
  (connection refused, connect timeout) or was refused unprocessed (``503 SERVER_UNAVAILABLE``);
  otherwise the caller gets a :class:`~ml_connector.errors.ConnectorError` saying the outcome is
  unknown, and must look the record up (by an external id) before trying again.

``REQUEST_LIMIT_EXCEEDED`` becomes :class:`~ml_connector.errors.QuotaExhausted` and is never retried.
API usage is read from ``Sforce-Limit-Info`` on every response (§2.4); above ``api_budget_percent`` of
the daily allocation new work is refused before it starts. Every call carries
``Sforce-Call-Options: client=<call_options_client>`` (§8) so CDC can tell our own writes apart.
Retries use exponential backoff with full jitter (a random wait between 0 and the exponential cap).
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote as url_quote

import httpx2
import stamina
from pydantic import SecretStr

from ml_connector.errors import ConfigError, ConnectorError, QuotaExhausted, RecordError, Retryable
from ml_connector.salesforce._auth import SalesforceAuth, SalesforceToken, TokenManager
from ml_connector.salesforce._errors import error_from_response, record_error

__all__ = ["COLLECTION_LIMIT", "QueryPage", "RecordResult", "SalesforceClient", "UpsertResult"]

COLLECTION_LIMIT = 200  # §4.3: sObject Collections take at most 200 records per call
_LIMIT_INFO = re.compile(r"api-usage=(?P<used>\d+)/(?P<limit>\d+)")


@dataclass(frozen=True)
class UpsertResult:
    """Outcome of one upsert by external id."""

    id: str
    created: bool


@dataclass(frozen=True)
class RecordResult:
    """Outcome of one record in a collection call; ``error`` is set when ``success`` is False."""

    id: str | None
    success: bool
    created: bool | None = None
    error: RecordError | None = None


@dataclass
class QueryPage:
    """One page of a query result (§3.1)."""

    total_size: int
    done: bool
    records: list[dict[str, Any]] = field(default_factory=list)
    next_records_url: str | None = None


class SalesforceClient:
    """Async client for one org; use as ``async with SalesforceClient(...) as client``.

    ``http`` (an ``httpx2.AsyncClient``) or ``transport`` is the I/O seam: tests pass the sandbox app
    through ``SandboxTransport``. ``session_timeout`` (seconds) enables proactive token renewal.
    ``retry_attempts``/``retry_wait_initial``/``retry_wait_max`` shape the backoff.
    """

    def __init__(
        self,
        login_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        api_version: str = "62.0",
        call_options_client: str = "ml-connector",
        api_budget_percent: float = 80.0,
        http: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        session_timeout: float | None = None,
        *,
        timeout: float = 60.0,
        retry_attempts: int = 5,
        retry_wait_initial: float = 0.5,
        retry_wait_max: float = 30.0,
    ) -> None:
        if float(api_version) < 46.0:
            # §4.2: before v46 an upsert-update answers 204 without the record id and "created".
            raise ConfigError(f"api_version {api_version} is too old", hint="use API version 46.0 or newer")
        if not 0 < api_budget_percent <= 100:
            raise ConfigError("api_budget_percent must be in (0, 100]")
        secret = client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
        self.api_version = api_version
        self.call_options_client = call_options_client
        self.api_budget_percent = api_budget_percent
        self._owns_http = http is None
        self._http = http or httpx2.AsyncClient(transport=transport, timeout=timeout)
        self.tokens = TokenManager(
            self._http,
            login_url=login_url,
            client_id=client_id,
            client_secret=secret,
            session_timeout=session_timeout,
        )
        self._auth = SalesforceAuth(self.tokens)
        self._retry_attempts = retry_attempts
        self._retry_wait_initial = retry_wait_initial
        self._retry_wait_max = retry_wait_max
        self._describes: dict[str, dict[str, Any]] = {}
        self._usage: tuple[int, int] | None = None

    async def __aenter__(self) -> SalesforceClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    # --- state ----------------------------------------------------------------------------------

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """``(used, limit)`` from the last ``Sforce-Limit-Info`` header, None before the first call."""
        return self._usage

    async def token(self) -> SalesforceToken:
        """The current access token (fetching one if needed): instance URL, org id, user id."""
        return await self.tokens.current()

    def _check_budget(self) -> None:
        if self._usage is None:
            return
        used, limit = self._usage
        if limit and used >= limit * self.api_budget_percent / 100.0:
            raise QuotaExhausted(
                f"Salesforce API usage {used}/{limit} is at or above the budget of {self.api_budget_percent:g} %",
                hint="new work waits until the rolling 24-hour usage drops; raise api_budget_percent to allow more",
            )

    # --- transport ------------------------------------------------------------------------------

    def _backoff_hook(self, resend_safe: bool) -> Any:
        attempts = [0]

        def hook(exc: Exception) -> bool | float:
            if not isinstance(exc, Retryable):
                return False
            if not (resend_safe or _never_processed(exc)):
                return False
            attempts[0] += 1
            cap = min(self._retry_wait_max, self._retry_wait_initial * 2 ** (attempts[0] - 1))
            return random.uniform(0, cap)  # full jitter

        return hook

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        resend_safe: bool,
        new_work: bool = True,
        query: bool = False,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx2.Response:
        if new_work:
            self._check_budget()
        async for attempt in stamina.retry_context(
            on=self._backoff_hook(resend_safe), attempts=self._retry_attempts, timeout=None
        ):
            with attempt:
                return await self._send_once(
                    method, path, what=what, resend_safe=resend_safe, query=query, params=params,
                    json_body=json_body, headers=headers,
                )  # fmt: skip
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        what: str,
        resend_safe: bool,
        query: bool,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx2.Response:
        token = await self.tokens.current()
        url = path if path.startswith("http") else token.instance_url + path
        all_headers = {
            "Accept": "application/json",
            "Sforce-Call-Options": f"client={self.call_options_client}",
        }
        all_headers.update(headers or {})
        try:
            response = await self._http.request(
                method, url, params=params, json=json_body, headers=all_headers, auth=self._auth
            )
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            raise Retryable(f"{what}: could not connect to Salesforce: {exc}") from exc
        except httpx2.TransportError as exc:
            if resend_safe:
                raise Retryable(f"{what}: connection lost: {exc!r}") from exc
            raise ConnectorError(
                f"{what}: the connection was lost after the request was sent; the outcome is unknown",
                hint="this call is not safe to resend blindly: look the record up before trying again",
            ) from exc
        self._note_usage(response)
        if response.status_code >= 300:
            raise error_from_response(response, what=what, query=query)
        return response

    def _note_usage(self, response: httpx2.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("sforce-limit-info", ""))
        if match:
            self._usage = (int(match["used"]), int(match["limit"]))

    def _data(self, suffix: str) -> str:
        return f"/services/data/v{self.api_version}/{suffix}"

    # --- queries ----------------------------------------------------------------------------------

    async def query_pages(
        self, soql: str, *, batch_size: int = 2000, include_deleted: bool = False
    ) -> AsyncIterator[QueryPage]:
        """Pages of a query, following ``nextRecordsUrl`` until ``done`` (§3.1, §3.3).

        Build ``soql`` with :mod:`ml_connector.salesforce.soql`; never paste values into it.
        """
        if not 200 <= batch_size <= 2000:
            raise ValueError("batch_size must be between 200 and 2000 (Sforce-Query-Options, §3.3)")
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        resource = "queryAll" if include_deleted else "query"
        what = f"SOQL {resource}"
        response = await self._request(
            "GET",
            self._data(resource),
            what=what,
            resend_safe=True,
            query=True,
            params={"q": soql},
            headers=headers,
        )
        while True:
            body = response.json()
            page = QueryPage(
                total_size=int(body.get("totalSize", 0)),
                done=bool(body.get("done", True)),
                records=list(body.get("records") or []),
                next_records_url=body.get("nextRecordsUrl"),
            )
            yield page
            if page.done or not page.next_records_url:
                return
            response = await self._request(
                "GET",
                page.next_records_url,
                what=what,
                resend_safe=True,
                new_work=False,
                query=True,
                headers=headers,
            )

    async def query(self, soql: str, *, batch_size: int = 2000) -> AsyncIterator[dict[str, Any]]:
        """Every record of a query (``attributes`` included), page after page."""
        async for page in self.query_pages(soql, batch_size=batch_size):
            for record in page.records:
                yield record

    async def query_all(self, soql: str, *, batch_size: int = 2000) -> AsyncIterator[dict[str, Any]]:
        """Like :meth:`query` through ``queryAll``: deleted records too (``IsDeleted = true``, §3.2)."""
        async for page in self.query_pages(soql, batch_size=batch_size, include_deleted=True):
            for record in page.records:
                yield record

    # --- reads ------------------------------------------------------------------------------------

    async def get(self, sobject: str, record_id: str, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """One record by id (:class:`~ml_connector.errors.NotFound` if absent or deleted)."""
        params = {"fields": ",".join(fields)} if fields else None
        response = await self._request(
            "GET",
            self._data(f"sobjects/{sobject}/{url_quote(record_id, safe='')}"),
            what=f"get {sobject} {record_id}",
            resend_safe=True,
            params=params,
        )
        result: dict[str, Any] = response.json()
        return result

    async def describe(self, sobject: str) -> dict[str, Any]:
        """The object's describe result, fetched once per client."""
        if sobject not in self._describes:
            response = await self._request(
                "GET",
                self._data(f"sobjects/{sobject}/describe"),
                what=f"describe {sobject}",
                resend_safe=True,
            )
            self._describes[sobject] = response.json()
        return self._describes[sobject]

    async def limits(self) -> dict[str, Any]:
        """``/limits``: ``{"DailyApiRequests": {"Max": …, "Remaining": …}, …}`` (§2.4)."""
        response = await self._request(
            "GET", self._data("limits"), what="limits", resend_safe=True, new_work=False
        )
        result: dict[str, Any] = response.json()
        return result

    # --- writes -----------------------------------------------------------------------------------

    async def create(self, sobject: str, record: Mapping[str, Any]) -> str:
        """Insert one record; returns its id. Not resent after a lost answer (see module docs)."""
        response = await self._request(
            "POST", self._data(f"sobjects/{sobject}"), what=f"create {sobject}", resend_safe=False,
            json_body=_without_attributes(record),
        )  # fmt: skip
        return str(response.json()["id"])

    async def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Update one record by id (idempotent, so resent after a lost answer)."""
        await self._request(
            "PATCH", self._data(f"sobjects/{sobject}/{url_quote(record_id, safe='')}"),
            what=f"update {sobject} {record_id}", resend_safe=True, json_body=_without_attributes(fields),
        )  # fmt: skip

    async def upsert(
        self, sobject: str, ext_field: str, ext_value: str, record: Mapping[str, Any]
    ) -> UpsertResult:
        """Upsert by external id (§4.2): 201 created / 200 updated; 300 → RecordError; safe to resend."""
        body = _upsert_body(record, ext_field, ext_value)
        response = await self._request(
            "PATCH",
            self._data(f"sobjects/{sobject}/{ext_field}/{url_quote(str(ext_value), safe='')}"),
            what=f"upsert {sobject} {ext_field}={ext_value}",
            resend_safe=True,
            json_body=body,
        )
        data = response.json()
        return UpsertResult(
            id=str(data["id"]), created=bool(data.get("created", response.status_code == 201))
        )

    async def upsert_many(
        self, sobject: str, ext_field: str, records: Iterable[Mapping[str, Any]], *, all_or_none: bool = False
    ) -> list[RecordResult]:
        """Collections upsert in chunks of 200 (§4.3); one result per record, in order."""
        payload = []
        for record in records:
            if any(k.lower() == "id" for k in record):
                raise ValueError("upsert_many records must not carry Id, only the external id (§4.3)")
            if record.get(ext_field) in (None, ""):
                raise ValueError(f"every record needs a value for {ext_field}")
            payload.append({"attributes": {"type": sobject}, **_without_attributes(record)})
        return await self._collection(
            "PATCH", f"composite/sobjects/{sobject}/{ext_field}", payload, all_or_none,
            what=f"upsert {sobject} by {ext_field}", resend_safe=True,
        )  # fmt: skip

    async def update_many(
        self, sobject: str, records: Iterable[Mapping[str, Any]], *, all_or_none: bool = False
    ) -> list[RecordResult]:
        """Collections update by ``Id`` in chunks of 200; idempotent, so resent after a lost answer."""
        payload = []
        for record in records:
            if not record.get("Id"):
                raise ValueError("update_many records need an Id")
            payload.append({"attributes": {"type": sobject}, **_without_attributes(record)})
        return await self._collection(
            "PATCH", "composite/sobjects", payload, all_or_none, what=f"update {sobject}", resend_safe=True
        )

    async def _collection(
        self,
        method: str,
        suffix: str,
        payload: list[dict[str, Any]],
        all_or_none: bool,
        *,
        what: str,
        resend_safe: bool,
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        for start in range(0, len(payload), COLLECTION_LIMIT):
            chunk = payload[start : start + COLLECTION_LIMIT]
            response = await self._request(
                method, self._data(suffix), what=what, resend_safe=resend_safe,
                json_body={"allOrNone": all_or_none, "records": chunk},
            )  # fmt: skip
            for item in response.json():
                if item.get("success"):
                    results.append(RecordResult(id=item.get("id"), success=True, created=item.get("created")))
                else:
                    error = record_error(item.get("errors") or [{"message": "record refused"}])
                    results.append(RecordResult(id=item.get("id"), success=False, error=error))
        return results


def _never_processed(exc: Retryable) -> bool:
    """True when the request cannot have been applied: no connection, or 503 SERVER_UNAVAILABLE."""
    if isinstance(exc.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout):
        return True
    response = exc.response
    return isinstance(response, httpx2.Response) and response.status_code == 503


def _without_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def _upsert_body(record: Mapping[str, Any], ext_field: str, ext_value: str) -> dict[str, Any]:
    """The PATCH body: §4.2 forbids Id and the external-id field in it, so they leave the body."""
    body = _without_attributes(record)
    if any(k.lower() == "id" for k in body):
        raise ValueError("an upsert by external id must not carry Id in the record (§4.2)")
    for key in [k for k in body if k.lower() == ext_field.lower()]:
        if str(body[key]) != str(ext_value):
            raise ValueError(f"record {ext_field}={body[key]!r} contradicts the upsert key {ext_value!r}")
        del body[key]
    return body
