"""Reliability suite: a reduced size by default (CI), the full size with ML_CONNECTOR_FULL_RELIABILITY=1.

The full size is what ``tests/reliability/run_full.py`` runs and prints the figures of.
"""

from __future__ import annotations

import os

import pytest
from reliability_harness import CI_SIZE, FULL_SIZE, ChaosSize

FULL = os.environ.get("ML_CONNECTOR_FULL_RELIABILITY", "").lower() in ("1", "true", "yes")


@pytest.fixture
def chaos_size() -> ChaosSize:
    """How big the chaos run is."""
    return FULL_SIZE if FULL else CI_SIZE


@pytest.fixture(autouse=True)
def _no_key_from_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workspaces here use their own key file, whatever the calling shell exports."""
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
