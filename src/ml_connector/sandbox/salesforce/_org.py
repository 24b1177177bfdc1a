"""The sandbox org's tables, unique-value index, auto-numbers and change log.

Records are plain dicts that are replaced, never mutated in place; each replacement is journalled
so a transaction can undo its writes. Writes go through ``_store.Transaction``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ml_connector.sandbox._control import SandboxClock
from ml_connector.sandbox.salesforce._ids import IdFactory, is_valid_id, to_18
from ml_connector.sandbox.salesforce._schema import SCHEMA

if TYPE_CHECKING:
    from ml_connector.sandbox.salesforce._store import Transaction

__all__ = ["Change", "ChangeListener", "PendingChange", "SalesforceOrg"]


@dataclass(frozen=True)
class Change:
    """One committed change, the raw material of a CDC change event (reference §6.7).

    ``record_ids`` holds every record of ``entity`` that one request changed in the same way (same
    change type, same changed and nulled fields) — CDC merges those into one event. ``values`` maps
    each record id to the field values the event carries: the whole record for CREATE/UNDELETE, the
    changed fields for UPDATE, nothing for DELETE. ``client`` is the ``client=`` token of the writer's
    ``Sforce-Call-Options`` header (None when absent), ``api_version`` the REST version it called.
    """

    entity: str
    change_type: str  # CREATE | UPDATE | DELETE | UNDELETE
    record_ids: tuple[str, ...]
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    client: str | None
    api_version: str | None
    commit_timestamp: datetime
    commit_number: int
    transaction_key: str
    commit_user: str
    values: dict[str, dict[str, Any]] = field(default_factory=dict)


ChangeListener = Callable[[Change], None]


@dataclass
class PendingChange:
    entity: str
    change_type: str
    record_id: str
    changed: tuple[str, ...]
    nulled: tuple[str, ...]
    values: dict[str, Any]


class SalesforceOrg:
    """In-memory org: one table per object, auto-numbers, the change log and its listeners."""

    def __init__(self, clock: SandboxClock, *, org_id: str, user_id: str) -> None:
        self.clock = clock
        self.org_id = org_id
        self.user_id = user_id
        self.ids = IdFactory()
        self.lock = threading.RLock()  # held for a whole transaction; handlers never await inside one
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SCHEMA}
        self.changes: list[Change] = []
        self._listeners: list[ChangeListener] = []
        self._commit_number = 0
        self._order_number = 100
        self._order_item_number = 1
        self.standard_pricebook_id: str | None = None
        # (object, unique field) -> folded value -> id of the live record holding it
        self.unique_index: dict[tuple[str, str], dict[str, str]] = {}
        # (object, id, previous row or None) for every write of the open transaction
        self.journal: list[tuple[str, str, dict[str, Any] | None]] = []
        self.rebuild_unique_index()

    def rebuild_unique_index(self) -> None:
        """Recompute the unique-value index from the tables (after a reset or rollback)."""
        self.unique_index = {
            (obj.name, f.name): {} for obj in SCHEMA.values() for f in obj.fields.values() if f.unique
        }
        for obj_name, table in self.tables.items():
            for row in table.values():
                self._index(obj_name, row, add=True)

    def _index(self, object_name: str, row: dict[str, Any], *, add: bool) -> None:
        if row["IsDeleted"]:
            return
        for (obj_name, field_name), index in self.unique_index.items():
            value = row.get(field_name)
            if obj_name != object_name or value is None:
                continue
            if add:
                index[str(value).lower()] = row["Id"]
            elif index.get(str(value).lower()) == row["Id"]:
                del index[str(value).lower()]

    def put(self, object_name: str, row: dict[str, Any]) -> None:
        """Store ``row`` (a new dict) as the current version of its record (journalled for undo)."""
        old = self.tables[object_name].get(row["Id"])
        self.journal.append((object_name, row["Id"], old))
        if old is not None:
            self._index(object_name, old, add=False)
        self.tables[object_name][row["Id"]] = row
        self._index(object_name, row, add=True)

    def drop(self, object_name: str, record_id: str) -> None:
        """Remove a record entirely (hard delete, journalled for undo)."""
        old = self.tables[object_name].pop(record_id)
        self.journal.append((object_name, record_id, old))
        self._index(object_name, old, add=False)

    def undo(self, to: int) -> None:
        """Undo journalled writes until the journal is ``to`` entries long (allOrNone, failed requests)."""
        while len(self.journal) > to:
            object_name, record_id, previous = self.journal.pop()
            table = self.tables[object_name]
            current = table.pop(record_id, None)
            if current is not None:
                self._index(object_name, current, add=False)
            if previous is not None:
                table[record_id] = previous
                self._index(object_name, previous, add=True)

    # --- reading --------------------------------------------------------------------------------

    def rows(self, object_name: str, include_deleted: bool) -> Iterator[dict[str, Any]]:
        """Records of one object in creation order (deleted ones only with ``include_deleted``)."""
        for row in list(self.tables[object_name].values()):
            if include_deleted or not row["IsDeleted"]:
                yield row

    def lookup(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """One record by id, deleted or not."""
        return self.tables.get(object_name, {}).get(to_18(record_id) if is_valid_id(record_id) else record_id)

    def live(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """One record by id unless deleted."""
        row = self.lookup(object_name, record_id)
        return None if row is None or row["IsDeleted"] else row

    def object_of(self, record_id: str) -> str | None:
        """The object an id belongs to, from its key prefix."""
        prefix = record_id[:3]
        return next((name for name, spec in SCHEMA.items() if spec.key_prefix == prefix), None)

    def counts(self) -> dict[str, int]:
        """Live records per object (for ``/_sandbox/stats``)."""
        return {
            name: sum(1 for r in table.values() if not r["IsDeleted"]) for name, table in self.tables.items()
        }

    # --- change log -----------------------------------------------------------------------------

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener`` with every change committed from now on."""
        self._listeners.append(listener)

    def reset(self) -> None:
        """Empty every table and the change log (listeners stay)."""
        with self.lock:
            for table in self.tables.values():
                table.clear()
            self.changes.clear()
            self.journal.clear()
            self.ids.reset()
            self._commit_number = 0
            self._order_number = 100
            self._order_item_number = 1
            self.standard_pricebook_id = None
            self.rebuild_unique_index()

    def transaction(
        self, *, client: str | None = None, api_version: str | None = None, user_id: str | None = None
    ) -> Transaction:
        """A unit of work for one request."""
        from ml_connector.sandbox.salesforce._store import Transaction

        return Transaction(self, client=client, api_version=api_version, user_id=user_id or self.user_id)

    def _commit(self, tx: Transaction) -> None:
        if not tx.pending:
            return
        self._commit_number += 1
        grouped: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], list[PendingChange]] = {}
        for pending in tx.pending:
            key = (pending.entity, pending.change_type, pending.changed, pending.nulled)
            grouped.setdefault(key, []).append(pending)
        for (entity, change_type, changed, nulled), items in grouped.items():
            change = Change(
                entity=entity,
                change_type=change_type,
                record_ids=tuple(dict.fromkeys(p.record_id for p in items)),
                changed_fields=changed,
                nulled_fields=nulled,
                client=tx.client,
                api_version=tx.api_version,
                commit_timestamp=tx.now,
                commit_number=self._commit_number,
                transaction_key=tx.key,
                commit_user=tx.user_id,
                values={p.record_id: p.values for p in items},
            )
            self.changes.append(change)
            for listener in list(self._listeners):
                listener(change)

    # --- auto numbers ---------------------------------------------------------------------------

    def next_order_number(self) -> str:
        """``OrderNumber`` auto-number (eight digits, as a fresh org's default format)."""
        self._order_number += 1
        return f"{self._order_number:08d}"

    def next_order_item_number(self) -> str:
        """``OrderItemNumber`` auto-number (ten digits)."""
        number = self._order_item_number
        self._order_item_number += 1
        return f"{number:010d}"
