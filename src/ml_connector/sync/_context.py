"""What a flow run works with: the store, the gateways, the config, tallies and the dry-run plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ml_connector.config import ConnectorConfig
from ml_connector.store import EventKind, LinkStatus, RecordOutcome, StateStore

if TYPE_CHECKING:
    from ml_connector.sync._gateways import AcumaticaGateway, CallCounter, SalesforceGateway

__all__ = ["PlannedWrite", "RunTally", "SyncContext"]


@dataclass(frozen=True)
class PlannedWrite:
    """A write a dry run would have made: target, action and the field diffs."""

    flow: str
    source_id: str
    system: str  # "acumatica" | "salesforce"
    action: str  # "create" | "update" | "deactivate" | "write-back"
    target: str | None
    diff: dict[str, tuple[Any, Any]]


@dataclass
class RunTally:
    """Per-flow counts for the run summary and the ``runs`` table."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: RecordOutcome) -> None:
        """Count one record outcome (write-ahead intents are not outcomes)."""
        if outcome.event is EventKind.INTENT:
            return
        kind = {
            EventKind.CREATED: "created",
            EventKind.UPDATED: "updated",
            EventKind.UNCHANGED: "unchanged",
            EventKind.PARKED: "parked",
            EventKind.FAILED: "failed",
            EventKind.DELETED: "deleted",
            EventKind.SKIPPED: "skipped",
            EventKind.RECOVERED: "recovered",
        }.get(outcome.event)
        if kind:
            self.counts[kind] += 1
        if outcome.status is LinkStatus.IN_DOUBT:
            self.counts["in_doubt"] += 1

    def as_dict(self) -> dict[str, int]:
        """Plain dict with every standard key present."""
        keys = (
            "read",
            "created",
            "updated",
            "unchanged",
            "parked",
            "failed",
            "deleted",
            "skipped",
            "recovered",
        )
        return {key: int(self.counts.get(key, 0)) for key in keys} | {
            k: int(v) for k, v in self.counts.items() if k not in keys
        }


ProgressCallback = Callable[[str, int, int | None], None]  # flow, done, total (None: unknown)


@dataclass
class SyncContext:
    """Everything one sync of one connection shares across its flows."""

    config: ConnectorConfig
    store: StateStore
    connection_id: int
    salesforce: SalesforceGateway
    acumatica: AcumaticaGateway
    ledger_born: datetime
    dry_run: bool = False
    trigger: str = "manual"
    plan: list[PlannedWrite] = field(default_factory=list)
    progress: ProgressCallback | None = None
    run_ids: dict[str, int] = field(default_factory=dict)
    tallies: dict[str, RunTally] = field(default_factory=dict)
    calls: dict[str, CallCounter] = field(default_factory=dict)
    handled: dict[str, set[str]] = field(default_factory=dict)  # source ids each flow handled this run
    planned: dict[tuple[str, str], RecordOutcome] = field(default_factory=dict)  # dry run: would-be outcomes

    def fork(self, trigger: str) -> SyncContext:
        """A fresh unit of work over the same clients (a daemon runs many: polls, CDC batches)."""
        return SyncContext(
            config=self.config,
            store=self.store,
            connection_id=self.connection_id,
            salesforce=self.salesforce,
            acumatica=self.acumatica,
            ledger_born=self.ledger_born,
            dry_run=self.dry_run,
            trigger=trigger,
            progress=self.progress,
            calls=self.calls,
        )

    def tally(self, flow: str) -> RunTally:
        """The running tally of ``flow``."""
        return self.tallies.setdefault(flow, RunTally())

    def record(self, outcomes: Sequence[RecordOutcome], *, cursor: tuple[str, Any] | None = None) -> None:
        """Write outcomes (and the cursor) in one transaction and count them; nothing in a dry run."""
        for outcome in outcomes:
            outcome.run_id = outcome.run_id or self.run_ids.get(outcome.flow)
            self.tally(outcome.flow).add(outcome)
        if self.dry_run:
            self.planned.update(((o.flow, o.source_id), o) for o in outcomes)
            return
        if outcomes or cursor is not None:
            self.store.record_outcomes(self.connection_id, outcomes, cursor=cursor)

    def note_progress(self, flow: str, done: int, total: int | None = None) -> None:
        """Report progress to the CLI's display, when there is one."""
        if self.progress is not None:
            self.progress(flow, done, total)
