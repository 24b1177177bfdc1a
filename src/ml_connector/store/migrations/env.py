"""Alembic environment: runs on the connection the state store hands over (SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic import context

from ml_connector.store._tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through table copies
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
