"""Small helpers every flow uses: parking a record, field diffs, JSON-safe payload copies."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ml_connector.errors import RecordError, Retryable
from ml_connector.store import EventKind, Link, LinkStatus, RecordOutcome

if TYPE_CHECKING:
    from ml_connector.sync._context import SyncContext

CREATE_ATTEMPTS = 5  # creates of one auto-numbered record per run, each after a lookup proved none exists
CREATE_RETRY_WAIT = 0.5  # seconds: the cap of the first jittered wait, doubled each time

__all__ = [
    "BlockedRecord",
    "changed_fields",
    "create_with_intent",
    "diff",
    "flatten",
    "jsonable",
    "outcome_of",
    "park",
    "raise_on_outage",
    "salesforce_time",
    "write_back",
]


class BlockedRecord(RecordError):
    """A refused record together with what must change for it to go through (checked before retrying)."""

    def __init__(self, message: str, *, blocked_on: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.blocked_on = blocked_on


def park(flow: str, source_id: str, error: RecordError, *, target_key: str | None = None) -> RecordOutcome:
    """The outcome for a record the target refused: parked with the API's message, field and a hint."""
    field = next(iter(error.field_errors), None)
    hint = error.hint
    if hint is None and field:
        hint = f"correct {field} ({error.field_errors[field]}); the next run retries the record by itself"
    message = error.message
    details = "; ".join(
        f"{path or 'record'}: {text}" for path, text in error.field_errors.items() if text not in message
    )
    if details:
        message = f"{message} — {details}"
    return RecordOutcome(
        flow,
        source_id,
        LinkStatus.PARKED,
        EventKind.PARKED,
        target_key=target_key,
        message=message,
        error_field=field,
        hint=hint,
        fields=list(error.field_errors),
        count_attempt=True,
        data={"blocked_on": error.blocked_on} if isinstance(error, BlockedRecord) else None,
    )


OUTAGE_FAILURES = 3  # this many retryable failures, and most of the page: the system is down, not a record


def outcome_of(
    flow: str,
    source_id: str,
    result: RecordOutcome | BaseException,
    link: Link | None,
    *,
    keep_data: bool = False,
) -> RecordOutcome:
    """A record's outcome from a concurrent write.

    A refused record (RecordError) is parked. A record that kept failing with retryable errors after
    every retry (one that makes the server fail each time, say) is recorded as failed, so it cannot
    hold up the records after it: as ``in_doubt`` when it has no target yet — a create may have gone
    through, so the retry looks it up first — else parked without a blocker, retried by later runs up
    to ``max_attempts``. Any other error goes up and fails the page. ``keep_data`` keeps the link's
    data (line ids, invoice type) under a parked outcome's blockers.
    """
    if isinstance(result, RecordError):
        outcome = park(flow, source_id, result, target_key=link.target_key if link else None)
        if keep_data:
            outcome.data = {**(link.data if link else {}), **(outcome.data or {})}
        return outcome
    if isinstance(result, Retryable):
        target = link.target_key if link else None
        return RecordOutcome(
            flow,
            source_id,
            LinkStatus.PARKED if target else LinkStatus.IN_DOUBT,
            EventKind.FAILED,
            target_key=target,
            message=f"still failing after retries: {result}",
            hint="retried by the next run by itself; `ml-connector parked retry` tries at once",
            count_attempt=True,
        )
    if isinstance(result, BaseException):
        raise result
    return result


def raise_on_outage(results: Sequence[object]) -> None:
    """Fail the page (cursor stays) when most of it failed with retryable errors: an outage."""
    failures = [r for r in results if isinstance(r, Retryable)]
    if len(failures) >= OUTAGE_FAILURES and 2 * len(failures) > len(results):
        raise failures[0]


async def write_back(
    ctx: SyncContext,
    flow: str,
    sobject: str,
    records: Sequence[dict[str, Any]],
    outcomes: Sequence[RecordOutcome],
) -> None:
    """Write target keys back onto Salesforce records (collections of 200); a dry run only plans them.

    A refused write-back does not undo the sync: it is noted on the record's outcome.
    """
    if ctx.dry_run:
        from ml_connector.sync._context import PlannedWrite

        for record in records:
            changes = {k: (None, v) for k, v in record.items() if k != "Id"}
            ctx.plan.append(
                PlannedWrite(flow, record["Id"], "salesforce", "write-back", record["Id"], changes)
            )
        return
    errors = await ctx.salesforce.update(sobject, records)
    by_id = {o.source_id: o for o in outcomes}
    for record_id, error in errors.items():
        outcome = by_id[record_id]
        fields = ", ".join(k for k in next(r for r in records if r["Id"] == record_id) if k != "Id")
        outcome.message = "; ".join(
            filter(None, [outcome.message, f"write-back of {fields} failed: {error}"])
        )


def salesforce_time(value: Any) -> datetime | None:
    """A Salesforce REST datetime (``2026-11-01T10:00:00.000+0000``) as an aware datetime, or None."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # Salesforce writes +0000
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def jsonable(value: Any) -> Any:
    """A copy that JSON can hold (decimals and dates as strings)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def flatten(payload: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"MainContact": {"Address": {"City": x}}}`` → ``{"MainContact/Address/City": x}``."""
    flat: dict[str, Any] = {}
    for key, value in payload.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{path}/"))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    flat.update(flatten(item, f"{path}/{index}/"))
                else:
                    flat[f"{path}/{index}"] = item
        else:
            flat[path] = value
    return flat


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field paths whose value differs, with (before, after), compared as JSON-safe values."""
    old, new = flatten(jsonable(before)), flatten(jsonable(after))
    return {
        path: (old.get(path), new.get(path))
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    }


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The field paths that changed (for the audit trail)."""
    return list(diff(before, after))


async def create_with_intent(
    ctx: SyncContext,
    flow: str,
    source_id: str,
    *,
    what: str,
    create: Callable[[], Awaitable[dict[str, Any]]],
    find: Callable[[], Awaitable[dict[str, Any] | None]],
    lookup_proves_absence: bool = True,
) -> dict[str, Any]:
    """Create an auto-numbered record at most once.

    The ledger first records the intent (``in_doubt``); if the answer is lost or the server fails,
    ``find`` looks for the record before anything else. Found: it is the one we made. Not found: the
    failed create made nothing, so it is sent again (up to ``CREATE_ATTEMPTS`` in all, with jittered
    waits) — one 500 no longer fails the whole flow. When ``find`` cannot prove absence
    (``lookup_proves_absence=False``), or the attempts run out, the error goes up and the link stays
    ``in_doubt``: the next run looks again before creating.
    """
    ctx.record(
        [RecordOutcome(flow, source_id, LinkStatus.IN_DOUBT, EventKind.INTENT, message=f"creating {what}")]
    )
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            return await create()
        except Retryable:
            found = await find()
            if found is not None:
                return found
            if not lookup_proves_absence or attempt == CREATE_ATTEMPTS:
                raise
            await asyncio.sleep(random.uniform(0, CREATE_RETRY_WAIT * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover
