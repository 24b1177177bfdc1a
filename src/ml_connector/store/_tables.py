"""The state store's tables (SQLAlchemy Core), as DESIGN.md describes them.

The migrations in ``migrations/versions`` create exactly these; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "UTCDateTime",
    "cdc_positions",
    "connections",
    "credentials",
    "cursors",
    "events",
    "links",
    "metadata",
    "runs",
]


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# An autoincrementing 64-bit key that is also SQLite's rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

connections = sa.Table(
    "connections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("connection_id", "kind"),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column(
        "connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("flow", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(64), primary_key=True),
    sa.Column("target_key", sa.String(255)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("source_version", sa.String(64)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("error_field", sa.String(255)),
    sa.Column("hint", sa.Text),
    sa.Column("data", sa.JSON),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "connection_id", "flow", "status"),
    sa.Index(None, "connection_id", "target_key"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("run_id", sa.Integer),
    sa.Column("flow", sa.String(32), nullable=False),
    sa.Column("source_id", sa.String(64), nullable=False),
    sa.Column("target_key", sa.String(255)),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("fields", sa.JSON),
    sa.Column("message", sa.Text),
    sa.Index(None, "connection_id", "source_id"),
    sa.Index(None, "connection_id", "target_key"),
    sa.Index(None, "connection_id", "at"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column(
        "connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("position_ts", sa.String(40), nullable=False),
    sa.Column("position_id", sa.String(64), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

cdc_positions = sa.Table(
    "cdc_positions",
    metadata,
    sa.Column(
        "connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("topic", sa.String(128), primary_key=True),
    sa.Column("replay_id", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "connection_id", sa.Integer, sa.ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("flow", sa.String(32), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("counts", sa.JSON),
    sa.Column("api_calls", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Index(None, "connection_id", "flow", "started_at"),
)
