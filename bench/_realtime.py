"""Real time: activation → invoice latency with ``ml-connector run`` going (not yet measured)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def measure(directory: Path, *, quick: bool) -> dict[str, Any]:
    """Placeholder until the scenario is written: reports "not measured"."""
    return {"note": "not measured yet"}
