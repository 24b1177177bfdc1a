"""Shared fixtures: a state database on SQLite and, where a server answers, PostgreSQL.

On CI (``CI=true``) PostgreSQL must answer on 127.0.0.1:5432: an unreachable server fails the
PostgreSQL tests instead of skipping them. Locally they skip with a message saying why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from ml_connector.store import StateStore

POSTGRES_DSN = os.environ.get("ML_CONNECTOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_pg_reason: list[str] = []


def _postgres_available() -> bool:
    if _pg_reason:
        return _pg_reason[0] == ""
    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=3):
            _pg_reason.append("")
    except psycopg.Error as exc:
        _pg_reason.append(f"PostgreSQL at {POSTGRES_DSN} does not answer ({exc.__class__.__name__})")
    return _pg_reason[0] == ""


def require_postgres() -> None:
    """Skip locally, fail on CI, when PostgreSQL is unreachable."""
    if _postgres_available():
        return
    if ON_CI:
        pytest.fail(f"{_pg_reason[0]}: CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(f"{_pg_reason[0]}; start it or set ML_CONNECTOR_TEST_POSTGRES (required on CI)")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL on a fresh, private PostgreSQL schema, dropped afterwards."""
    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(POSTGRES_DSN.replace("postgresql://", "postgresql+psycopg://", 1))
    yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state database URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[StateStore]:
    """A migrated state store on each backend."""
    state = StateStore.open(db_url)
    yield state
    state.close()
