"""Fixtures for the flow tests: fast retries, and an env of seeded sandboxes plus a workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import stamina
from sync_env import Env, make_env

from ml_connector.sandbox._serve import SeedSize


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


@pytest.fixture
async def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    environment = make_env(
        tmp_path, SeedSize(seed=11, accounts=6, contacts_per_account=2, orders=14, activated_ratio=0.8)
    )
    yield environment
    environment.ws.close()
