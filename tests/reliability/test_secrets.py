"""Secrets: the real values never show up in the state DB, logs at any level, tracebacks or ``ping``;
a wrong master key fails clearly with nothing written; key and state files are owner-only; the
sandboxes listen on loopback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from reliability_harness import ChaosSize, SandboxHost, connector_env

SMALL = ChaosSize(accounts=4, contacts_per_account=1, orders=6)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    running = SandboxHost(tmp_path_factory.mktemp("secrets"), SMALL)
    yield running
    running.close()


def secrets_of(host: SandboxHost) -> dict[str, str]:
    sf, acu = host.info["salesforce"], host.info["acumatica"]
    values = {
        "salesforce client_secret": sf["client_secret"],
        "acumatica client_secret": acu["client_secret"],
        "acumatica password": acu["password"],
    }
    key_file = host.folder / "data" / "master.key"
    values["master key"] = key_file.read_text().split()[0]
    return values


def cli(host: SandboxHost, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_connector", "--config", str(host.config), *args],
        capture_output=True, text=True, env=env or connector_env(), timeout=300,
    )  # fmt: skip


def assert_no_secret(text: str, host: SandboxHost, where: str) -> None:
    for name, value in secrets_of(host).items():
        assert value not in text, f"the {name} appears in {where}"


def test_no_secret_in_debug_json_logs_ping_output_or_the_state_db(host: SandboxHost) -> None:
    synced = cli(host, "--debug", "--log-format", "json", "sync")
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "HTTP Request" in synced.stderr, "expected debug logs of every call"
    # Regression: library (stdlib) log lines were plain text in the JSON stream, and unredacted.
    lines = [json.loads(line) for line in synced.stderr.splitlines() if line.strip()]
    assert {"event", "level", "timestamp"} <= set(lines[0])
    assert any(line.get("logger") == "httpx2" for line in lines)
    assert_no_secret(synced.stdout + synced.stderr, host, "sync output and debug logs")
    pinged = cli(host, "--debug", "--log-format", "json", "ping")
    assert pinged.returncode == 0, pinged.stdout + pinged.stderr
    assert_no_secret(pinged.stdout + pinged.stderr, host, "ping output")
    listed = cli(host, "credentials", "list")
    assert listed.returncode == 0
    assert_no_secret(listed.stdout + listed.stderr, host, "credentials list")
    for path in (host.folder / "data").glob("state.db*"):
        raw = path.read_bytes()
        for name, value in secrets_of(host).items():
            assert value.encode() not in raw, f"the {name} is in {path.name} in plain text"


def test_no_secret_in_a_failing_sync_at_debug_level(host: SandboxHost, tmp_path: Path) -> None:
    env = connector_env()
    # Salesforce is unreachable while signing in (the request carries the secret): the retries and
    # the failure are logged at debug level with their causes.
    env["ML_CONNECTOR_SALESFORCE__MY_DOMAIN_URL"] = "http://127.0.0.1:9"
    failed = cli(host, "--debug", "sync", "accounts", env=env)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output[-2000:]
    assert "could not reach the Salesforce token endpoint" in output and "retry" in output, output[-2000:]
    assert_no_secret(output, host, "a failing sync's traceback")


def test_a_wrong_master_key_fails_clearly_and_writes_nothing(host: SandboxHost) -> None:
    state = host.folder / "data" / "state.db"
    cli(host, "sync")  # settle: nothing left to write
    before = host.stats()
    size_before = state.stat().st_size
    runs_before = cli(host, "status").stdout
    env = connector_env()
    env["ML_CONNECTOR_KEYS"] = Fernet.generate_key().decode()
    refused = cli(host, "sync", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = refused.stdout + refused.stderr
    assert "key" in message.lower() and "Traceback" not in message
    assert_no_secret(message, host, "the wrong-key error")
    after = host.stats()
    for old, new in zip(before, after, strict=True):
        writes = {k: n - old["calls"].get(k, 0) for k, n in new["calls"].items() if not k.startswith("GET")}
        assert not any(writes.values()), f"the sandboxes saw writes with a wrong key: {writes}"
    assert state.stat().st_size == size_before
    assert cli(host, "status").stdout == runs_before


def test_key_and_state_files_are_owner_only(host: SandboxHost) -> None:
    for path in [host.folder / "data" / "master.key", *(host.folder / "data").glob("state.db*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path.name} has mode {oct(mode)}"


def _listening(port: int) -> list[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_sandboxes_listen_on_loopback_only(host: SandboxHost) -> None:
    for system in ("salesforce", "acumatica"):
        url = host.info[system]["url"]
        assert url.startswith("http://127.0.0.1:"), url
        port = int(url.split(":")[2].split("/")[0])
        addresses = _listening(port)
        assert addresses == ["0100007F"], f"{system} sandbox listens on {addresses}"
