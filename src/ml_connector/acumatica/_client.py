"""``AcumaticaClient``: the async client of the contract-based REST API.

One I/O seam: pass ``http`` (an ``httpx2.AsyncClient``) or ``transport`` (tests hand in the sandbox
app through ``SandboxTransport``). The client never follows redirects (a redirect to ``Error.aspx``
means the licence seats are gone, §2.3).

Load and failure handling (§7, §9 of shared/reference/acumatica-api.md):

* at most ``max_concurrent`` requests in flight (asyncio semaphore) and, when the licence's
  ``requests_per_minute`` is known, pacing with pyrate-limiter at ``pace_fraction`` of it over 61 s.
  The default is the whole figure (1.0): by §7 the server *delays* requests beyond 50 % of the minute
  by ``remaining_time / remaining_requests``, which spreads the rest of the window evenly, and only
  *declines* when more than 20 wait in its queue or one waits 10 minutes — which cannot happen while
  the client keeps no more requests in flight than the licence's concurrent limit. So pacing at the
  full figure reaches the ceiling with nothing declined. Some tenants answer 429 instead of
  delaying (``strict``); the first 429 therefore drops the pacing to 50 % for the client's lifetime
  (``STRICT_PACE_FRACTION``), where such tenants decline nothing;
* long read timeouts (10 minutes by default): queued requests get no progress signal;
* 429, 5xx and transport errors -> stamina retries with *full jitter* backoff
  (``uniform(0, min(max, initial * 2**n))``); seat exhaustion backs off on its own, slower schedule;
* a write that may have been applied (timeout, dropped connection or 500 after the request was sent)
  is only retried when repeating it is harmless: a PUT that names the record by its keys or ``id``.
  Other writes raise :class:`Retryable` and the caller looks before it retries (:meth:`create_once`);
* 500 ``NoEntitySatisfiesTheCondition`` -> :class:`NotFound` (not retried); 422 and 500
  ``OutcomeEntityHasErrors`` -> :class:`RecordError` with ``field_errors``; 500 ``KeyNotFound``
  (unknown ``$select``/``$expand``) and 404 -> :class:`ConfigError`.
"""

from __future__ import annotations

import asyncio
import builtins
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urljoin

import httpx2
import stamina
from pydantic import SecretStr
from pyrate_limiter import Limiter, Rate

from ..errors import AuthError, ConfigError, NotFound, RateLimited, Retryable
from . import _odata as odata
from ._auth import AcumaticaAuth, SeatsExhausted
from ._responses import Ambiguous, raise_for_status
from ._values import dumps, loads, unwrap_record, wrap_record

__all__ = ["KEY_FIELDS", "STRICT_PACE_FRACTION", "AcumaticaClient"]

# Where a tenant that declines (429) instead of delaying stops declining: its throttle starts at 50 % (§7).
STRICT_PACE_FRACTION = 0.5

# Key fields in URL order (§6.7); used to tell an upsert-by-key from an insert and for lookups.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "Customer": ("CustomerID",),
    "Contact": ("ContactID",),
    "StockItem": ("InventoryID",),
    "SalesInvoice": ("Type", "ReferenceNbr"),
    "Invoice": ("Type", "ReferenceNbr"),
    "Payment": ("Type", "ReferenceNbr"),
    "SalesOrder": ("OrderType", "OrderNbr"),
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


class AcumaticaClient:
    """Async client for one Acumatica tenant through one contract endpoint (e.g. Default/24.200.001)."""

    def __init__(
        self,
        instance_url: str,
        endpoint_name: str = "Default",
        endpoint_version: str = "24.200.001",
        tenant: str | None = None,
        *,
        client_id: str,
        client_secret: SecretStr,
        username: str,
        password: SecretStr,
        refresh_token: SecretStr | None = None,
        on_refresh_token: Callable[[str], Awaitable[None]] | None = None,
        requests_per_minute: int | None = None,
        max_concurrent: int = 8,
        http: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        pace_fraction: float = 1.0,
        pace_window_seconds: float = 61.0,
        retry_attempts: int = 8,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        seat_backoff_initial: float = 15.0,
        seat_backoff_max: float = 300.0,
        read_timeout: float = 600.0,
        poll_interval: float = 1.0,
        poll_timeout: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.endpoint_name = endpoint_name
        self.endpoint_version = endpoint_version
        if "@" not in client_id:
            if not tenant:
                raise ConfigError(
                    "the Acumatica client_id needs its tenant", hint="write it as '<GUID>@<Tenant>'"
                )
            client_id = f"{client_id}@{tenant}"
        elif tenant and client_id.rpartition("@")[2].lower() != tenant.lower():
            raise ConfigError(
                f"client_id {client_id!r} names another tenant than {tenant!r}",
                hint="the part after '@' chooses the tenant (§2.1); make them agree",
            )
        self.tenant = tenant or client_id.rpartition("@")[2]
        self.base_url = f"{self.instance_url}/entity/{endpoint_name}/{endpoint_version}/"
        self._owns_http = http is None
        self._http = http or httpx2.AsyncClient(
            transport=transport,
            timeout=httpx2.Timeout(connect=15.0, read=read_timeout, write=60.0, pool=None),
            follow_redirects=False,
        )
        self.auth = AcumaticaAuth(
            instance_url=self.instance_url,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            refresh_token=refresh_token,
            on_refresh_token=on_refresh_token,
            clock=clock,
            before_request=self._pace,
        )
        self.max_concurrent = max_concurrent
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._limiter: Limiter | None = None
        self.requests_per_minute = requests_per_minute
        self.pace_fraction = pace_fraction
        self._pace_window_seconds = pace_window_seconds
        if requests_per_minute:
            self._limiter = self._new_limiter()
        self.retry_attempts = retry_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.seat_backoff_initial = seat_backoff_initial
        self.seat_backoff_max = seat_backoff_max
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self._endpoint_checked = False
        self._endpoint_lock = asyncio.Lock()
        self.calls = 0

    def _new_limiter(self) -> Limiter:
        assert self.requests_per_minute is not None
        paced = max(1, int(self.requests_per_minute * self.pace_fraction))
        # 61 s: a second of margin so the server's sliding minute never sees one more (§7).
        return Limiter(Rate(paced, int(self._pace_window_seconds * 1000)))

    def _pace_as_strict(self) -> None:
        """A 429 with pacing on: the tenant declines beyond 50 % instead of delaying; pace at 50 %."""
        if self._limiter is None or self.pace_fraction <= STRICT_PACE_FRACTION:
            return
        self._limiter.close()
        self.pace_fraction = STRICT_PACE_FRACTION
        self._limiter = self._new_limiter()

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> AcumaticaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Sign out (frees the API-user seat) and close the HTTP client if this client made it."""
        try:
            await self.auth.logout(self._http)
        finally:
            if self._limiter is not None:
                self._limiter.close()  # stops pyrate-limiter's background leaker thread
                self._limiter = None
            if self._owns_http:
                await self._http.aclose()

    # --- endpoint check ---------------------------------------------------------------------------

    async def endpoint_versions(self) -> builtins.list[dict[str, str]]:
        """``GET /entity``: the endpoints the instance offers (``name``, ``version``, ``href``)."""
        response = await self._request("GET", f"{self.instance_url}/entity", check_endpoint=False)
        body = loads(response.content)
        return [dict(e) for e in body.get("endpoints", [])] if isinstance(body, dict) else []

    async def _ensure_endpoint(self) -> None:
        if self._endpoint_checked:
            return
        async with self._endpoint_lock:
            if self._endpoint_checked:
                return
            try:
                offered = await self.endpoint_versions()
            except ConfigError as exc:
                raise ConfigError(
                    f"{self.instance_url}/entity is not an Acumatica endpoint list",
                    hint="check the instance URL, including the instance path (e.g. /AcumaticaERP)",
                ) from exc
            if not any(
                e.get("name") == self.endpoint_name and e.get("version") == self.endpoint_version
                for e in offered
            ):
                listing = ", ".join(f"{e.get('name')}/{e.get('version')}" for e in offered) or "none"
                raise ConfigError(
                    f"Acumatica at {self.instance_url} has no endpoint {self.endpoint_name}/{self.endpoint_version}; "
                    f"it offers: {listing}",
                    hint="set the endpoint version to one the instance offers",
                )
            self._endpoint_checked = True

    # --- reading ----------------------------------------------------------------------------------

    async def get(
        self,
        entity: str,
        key_or_keys: str | int | Sequence[str | int],
        *,
        expand: Iterable[str] | None = None,
        select: Iterable[str] | None = None,
        custom: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """One record by its key values (URL order); :class:`NotFound` when there is none."""
        keys = [str(k) for k in ([key_or_keys] if isinstance(key_or_keys, str | int) else key_or_keys)]
        if any("/" in k for k in keys):
            # A key with "/" cannot go in the URL (§4.4): look it up by $filter on the key fields.
            names = KEY_FIELDS.get(entity)
            if names is None or len(names) != len(keys):
                raise ConfigError(f"key {keys} of {entity} contains '/'", hint="read it by id instead")
            found = await self.find(
                entity,
                odata.matching(dict(zip(names, keys, strict=True))),
                expand=expand,
                select=select,
                custom=custom,
            )
            if not found:
                raise NotFound(f"{entity} {'/'.join(keys)} does not exist")
            return found[0]
        path = "/".join(quote(k, safe="") for k in keys)
        return await self._get_one(f"{entity}/{path}", expand, select, custom)

    async def get_by_id(self, entity: str, record_id: str, **params: Any) -> dict[str, Any]:
        """One record by its ``id`` (NoteID GUID)."""
        return await self._get_one(
            f"{entity}/{quote(str(record_id), safe='')}",
            params.get("expand"),
            params.get("select"),
            params.get("custom"),
        )

    async def _get_one(self, path: str, expand: Any, select: Any, custom: Any) -> dict[str, Any]:
        response = await self._request(
            "GET", self.base_url + path, params=_params(expand=expand, select=select, custom=custom)
        )
        return unwrap_record(loads(response.content))

    async def list(
        self,
        entity: str,
        *,
        filter: odata.Expr | None = None,
        select: Iterable[str] | None = None,
        expand: Iterable[str] | None = None,
        custom: Iterable[str] | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching record, page by page with ``$top``/``$skip`` (bare arrays, no count, §5.3)."""
        if filter is not None and not isinstance(filter, odata.Expr):
            raise TypeError("filter must be built with ml_connector.acumatica.odata (no raw text)")
        skip = 0
        while True:
            params = _params(expand=expand, select=select, custom=custom)
            if filter is not None:
                params["$filter"] = str(filter)
            params["$top"] = str(page_size)
            params["$skip"] = str(skip)
            response = await self._request("GET", self.base_url + entity, params=params)
            page = loads(response.content)
            for row in page:
                yield unwrap_record(row)
            if len(page) < page_size:
                return
            skip += page_size

    async def find(self, entity: str, filter: odata.Expr, **params: Any) -> builtins.list[dict[str, Any]]:
        """All records matching ``filter`` as a list."""
        return [r async for r in self.list(entity, filter=filter, **params)]

    def modified_field(self, entity: str) -> str:
        """The last-modified field this endpoint version has for ``entity`` (§1.4)."""
        version = _version_key(self.endpoint_version)
        if entity == "StockItem" and version < (24, 200, 1):
            return "LastModified"
        if entity == "SalesInvoice" and version < (23, 200, 1):
            raise ConfigError(
                "SalesInvoice has no LastModifiedDateTime before Default/23.200.001",
                hint="use endpoint version 23.200.001 or later",
            )
        return "LastModifiedDateTime"

    async def modified_since(
        self,
        entity: str,
        since: datetime,
        *,
        overlap: timedelta = timedelta(minutes=10),
        filter: odata.Expr | None = None,
        **params: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        """Records changed after ``since - overlap``, each (id, last-modified) yielded once.

        Pass as ``since`` the largest last-modified value *read from records* (the server's own
        labelling), never the local clock: the server's time zone handling is unresolved (§9.1),
        and the overlap absorbs records committed late or skipped by ``$skip`` paging (§5.3).
        """
        name = self.modified_field(entity)
        window = odata.field(name).gt(since - overlap)
        seen: set[tuple[str, Any]] = set()
        async for record in self.list(entity, filter=window if filter is None else window & filter, **params):
            key = (str(record.get("id")), record.get(name))
            if key in seen:
                continue
            seen.add(key)
            yield record

    # --- writing ----------------------------------------------------------------------------------

    async def put(
        self,
        entity: str,
        record: Mapping[str, Any],
        *,
        expand: Iterable[str] | None = None,
        select: Iterable[str] | None = None,
        custom: Iterable[str] | None = None,
        filter: odata.Expr | None = None,
        if_none_match: bool = False,
        if_match: bool = False,
    ) -> dict[str, Any]:
        """PUT upsert (§4.1): by keys, ``id`` or ``filter``; ``if_none_match`` = insert only, ``if_match`` = update only."""
        headers = {"Content-Type": "application/json"}
        if if_none_match:
            headers["If-None-Match"] = "*"
        if if_match:
            headers["If-Match"] = "*"
        params = _params(expand=expand, select=select, custom=custom)
        if filter is not None:
            params["$filter"] = str(filter)
        names = KEY_FIELDS.get(entity, ())
        addressed = (
            bool(record.get("id"))
            or filter is not None
            or (bool(names) and all(record.get(k) not in (None, "") for k in names))
        )
        response = await self._request(
            "PUT",
            self.base_url + entity,
            params=params,
            content=dumps(wrap_record(record)),
            headers=headers,
            idempotent=addressed,
        )
        return unwrap_record(loads(response.content))

    async def delete(self, entity: str, key_or_id: str | Sequence[str]) -> None:
        """DELETE by keys or id (§4.5)."""
        keys = [key_or_id] if isinstance(key_or_id, str) else list(key_or_id)
        await self._request(
            "DELETE",
            self.base_url + entity + "/" + "/".join(quote(k, safe="") for k in keys),
            idempotent=True,
        )

    async def create_once(
        self,
        entity: str,
        record: Mapping[str, Any],
        *,
        match: Iterable[str] | None = None,
        expand: Iterable[str] | None = None,
        attempts: int = 3,
    ) -> tuple[dict[str, Any], bool]:
        """Create ``record`` unless one with the same ``match`` fields exists; ``(record, created)``.

        For SalesInvoice the default ``match`` is ``CustomerOrder`` + ``CustomerID``: the key is
        auto-numbered, so a blind PUT (or its retry after a timeout) makes a duplicate (§4.1, §9.2).
        After an ambiguous failure the lookup runs again before another PUT.
        """
        fields = (
            list(match)
            if match is not None
            else (["CustomerOrder", "CustomerID"] if entity == "SalesInvoice" else [])
        )
        if not fields or any(record.get(f) in (None, "") for f in fields):
            raise ValueError(f"create_once needs values for the match fields {fields}")
        lookup = odata.matching({f: record[f] for f in fields})
        for attempt in range(attempts):
            found = await self.find(entity, lookup, expand=expand)
            if found:
                return found[0], False
            try:
                return await self.put(entity, record, expand=expand), True
            except Retryable:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    async def invoke_action(
        self,
        entity: str,
        action: str,
        record: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """POST an action (§4.6) and poll its ``Location`` until 204; a failed operation raises RecordError."""
        body = {"entity": wrap_record(record), "parameters": wrap_record(parameters or {})}
        response = await self._request(
            "POST",
            f"{self.base_url}{entity}/{action}",
            content=dumps(body),
            headers={"Content-Type": "application/json"},
        )
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            return
        status_url = urljoin(self.instance_url + "/", location)
        deadline = time.monotonic() + self.poll_timeout
        while True:
            poll = await self._request("GET", status_url)
            if poll.status_code == 204:
                return
            if time.monotonic() > deadline:
                raise Retryable(
                    f"{entity}/{action} still running after {self.poll_timeout:.0f} s", response=poll
                )
            await asyncio.sleep(self.poll_interval)

    # --- transport --------------------------------------------------------------------------------

    def _backoff_hook(self, idempotent: bool) -> Callable[[Exception], bool | float]:
        tries = {"normal": 0, "seat": 0}

        def hook(exc: Exception) -> bool | float:
            if isinstance(exc, SeatsExhausted):
                tries["seat"] += 1
                cap = min(self.seat_backoff_max, self.seat_backoff_initial * 2 ** (tries["seat"] - 1))
                return max(random.uniform(0, cap), 1e-3)
            if not isinstance(exc, Retryable) or (isinstance(exc, Ambiguous) and not idempotent):
                return False
            tries["normal"] += 1
            if isinstance(exc, RateLimited):
                self._pace_as_strict()
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                return max(exc.retry_after, 1e-3)  # none is documented (§7), but honour one if sent
            cap = min(self.backoff_max, self.backoff_initial * 2 ** (tries["normal"] - 1))
            return max(random.uniform(0, cap), 1e-3)  # full jitter

        return hook

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        check_endpoint: bool = True,
    ) -> httpx2.Response:
        if check_endpoint:
            await self._ensure_endpoint()
        safe = method in ("GET", "DELETE") if idempotent is None else idempotent
        async for attempt in stamina.retry_context(
            on=self._backoff_hook(safe), attempts=self.retry_attempts, timeout=None
        ):
            with attempt:
                response = await self._send(method, url, params=params, content=content, headers=headers)
        return response

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str] | None,
    ) -> httpx2.Response:
        async with self._semaphore:
            await self._pace()
            token = await self.auth.token(self._http)
            response = await self._exchange(method, url, token, params, content, headers)
            if response.status_code == 401:
                token = await self.auth.after_unauthorized(self._http, token)
                await self._pace()
                response = await self._exchange(method, url, token, params, content, headers)
                if response.status_code == 401:
                    raise AuthError(
                        "Acumatica refused a freshly issued token (401)",
                        hint="check that the API user has access to the tenant and the 'api' scope",
                        response=response,
                    )
        raise_for_status(response, method)
        return response

    async def _pace(self) -> None:
        """Wait for the pacing limiter (token requests count against the licence too)."""
        if self._limiter is not None:
            await self._limiter.try_acquire_async("acumatica")

    async def _exchange(
        self,
        method: str,
        url: str,
        token: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str] | None,
    ) -> httpx2.Response:
        all_headers = {"Accept": "application/json", "Authorization": f"Bearer {token}", **(headers or {})}
        self.calls += 1
        try:
            return await self._http.request(
                method, url, params=params, content=content, headers=all_headers, follow_redirects=False
            )
        except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout) as exc:
            raise Retryable(f"Acumatica unreachable: {exc!r}") from exc  # never sent: safe to repeat
        except httpx2.TransportError as exc:
            raise Ambiguous(f"no complete answer from Acumatica to {method} {url}: {exc!r}") from exc


def _params(**lists: Iterable[str] | None) -> dict[str, str]:
    return {f"${name}": ",".join(values) for name, values in lists.items() if values}
