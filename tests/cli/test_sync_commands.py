"""The day-to-day commands over a live pair of sandboxes (served on loopback, as a user would)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml_connector.cli import cli


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("live")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml_connector", "sandbox", "--json", "--accounts", "4", "--orders", "8",
         "--write-config", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    yield Path(info["config"])
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_sync_status_audit_and_parked_against_live_sandboxes(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    ping = run(live, "ping")
    assert ping.exit_code == 0, ping.output
    assert "all checks passed" in ping.output

    dry = run(live, "sync", "--dry-run", "accounts")
    assert dry.exit_code == 0 and "Dry run" in dry.output and "create acumatica" in dry.output

    first = run(live, "sync")
    assert first.exit_code == 0, first.output
    assert "sync summary" in first.output and "API calls: salesforce" in first.output

    status = run(live, "status")
    assert status.exit_code == 0 and "accounts" in status.output and "ok" in status.output

    listed = run(live, "parked", "list")
    assert listed.exit_code == 0
    events = json.loads(run(live, "audit", "--flow", "accounts", "--format", "json").output)
    assert events and {e["kind"] for e in events} == {"created"}
    one = events[0]["source_id"]
    history = run(live, "audit", one)
    assert history.exit_code == 0 and "created" in history.output
    csv_out = run(live, "audit", "--status", "created", "--format", "csv").output.splitlines()
    assert csv_out[0] == "at,flow,source_id,target_key,kind,fields,message" and len(csv_out) > 1

    if "no parked records" not in listed.output:
        parked_id = listed.output.split()[1]
        skipped = run(live, "parked", "skip", parked_id, "--reason", "handled by hand")
        assert skipped.exit_code == 0 and "skipped 1" in skipped.output
        assert parked_id not in run(live, "parked", "list").output


def test_ping_with_a_wrong_endpoint_version_exits_non_zero_and_lists_versions(
    live: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__ENDPOINT_VERSION", "19.100.001")
    result = run(live, "ping")
    assert result.exit_code == 1
    assert "✖" in result.output and "24.200.001" in result.output and "fix:" in result.output


def test_demo_runs_from_nothing_and_explains_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo"), "--accounts", "5", "--orders", "8"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "sync summary" in out and "an activated order and the invoice it became" in out
    assert "data writes seen by the sandboxes during this sync: 0" in out
    assert (tmp_path / "demo" / "data" / "state.db").exists()
