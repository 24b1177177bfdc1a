"""Initial state store: connections, credentials, links, events, cursors, cdc_positions, runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ml_connector.store._tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk() -> sa.ForeignKey:
    return sa.ForeignKey("connections.id", ondelete="CASCADE")


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connections"),
        sa.UniqueConstraint("name", name="uq_connections_name"),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer, _fk(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("connection_id", "kind", name="uq_credentials_connection_id_kind"),
    )
    op.create_table(
        "links",
        sa.Column("connection_id", sa.Integer, _fk(), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
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
        sa.PrimaryKeyConstraint("connection_id", "flow", "source_id", name="pk_links"),
    )
    op.create_index("ix_links_connection_id_flow_status", "links", ["connection_id", "flow", "status"])
    op.create_index("ix_links_connection_id_target_key", "links", ["connection_id", "target_key"])
    op.create_table(
        "events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer, _fk(), nullable=False),
        sa.Column("run_id", sa.Integer),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("target_key", sa.String(255)),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("fields", sa.JSON),
        sa.Column("message", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_connection_id_source_id", "events", ["connection_id", "source_id"])
    op.create_index("ix_events_connection_id_target_key", "events", ["connection_id", "target_key"])
    op.create_index("ix_events_connection_id_at", "events", ["connection_id", "at"])
    op.create_table(
        "cursors",
        sa.Column("connection_id", sa.Integer, _fk(), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("position_ts", sa.String(40), nullable=False),
        sa.Column("position_id", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "stream", name="pk_cursors"),
    )
    op.create_table(
        "cdc_positions",
        sa.Column("connection_id", sa.Integer, _fk(), nullable=False),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("replay_id", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "topic", name="pk_cdc_positions"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer, _fk(), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("counts", sa.JSON),
        sa.Column("api_calls", sa.JSON),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_connection_id_flow_started_at", "runs", ["connection_id", "flow", "started_at"])


def downgrade() -> None:
    """Drop every table."""
    for table in ("runs", "cdc_positions", "cursors", "events", "links", "credentials", "connections"):
        op.drop_table(table)
