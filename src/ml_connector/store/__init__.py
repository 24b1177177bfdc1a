"""The durable state store (SQLite by default, PostgreSQL for production): ledger, cursors, runs."""

from ml_connector.store._engine import create_state_engine
from ml_connector.store._repository import (
    CredentialRow,
    CursorPosition,
    EventKind,
    Link,
    LinkStatus,
    RecordOutcome,
    StateStore,
    require_schema,
)

__all__ = [
    "CredentialRow",
    "CursorPosition",
    "EventKind",
    "Link",
    "LinkStatus",
    "RecordOutcome",
    "StateStore",
    "create_state_engine",
    "require_schema",
]
