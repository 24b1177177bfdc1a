from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml_connector.admin import open_workspace
from ml_connector.cli import cli

SF_SECRET = "SfClientSecret-7f3a9c2e41"
ACU_SECRET = "AcuClientSecret-b81d02"
ACU_PASSWORD = "AcuPassw0rd-e5c9"


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)


def run(config: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(config), *args], input=input, env=env, catch_exceptions=False
    )


def everything_written(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "ml-connector.toml"
    result = run(path, "init")
    assert result.exit_code == 0, result.output
    return path


def test_init_creates_config_private_key_and_schema(config: Path) -> None:
    key = config.parent / "data" / "master.key"
    assert config.read_text().startswith("# ml-connector configuration")
    assert key.stat().st_mode & 0o777 == 0o600
    ws = open_workspace(config)
    assert ws.store.schema_revision() == "0001"
    ws.close()


def test_init_is_idempotent_and_refuses_to_overwrite_without_force(config: Path) -> None:
    key = config.parent / "data" / "master.key"
    config.write_text(config.read_text().replace('tenant = "Company"', 'tenant = "Company"  # mine'))
    key_before = key.read_bytes()
    again = run(config, "init")
    assert again.exit_code == 0 and "kept the existing config" in again.output
    assert "# mine" in config.read_text() and key.read_bytes() == key_before
    forced = run(config, "init", "--force")
    assert forced.exit_code == 0 and "# mine" not in config.read_text()
    assert key.read_bytes() == key_before  # the key is never replaced: that would orphan every credential


def test_secrets_never_appear_in_state_config_output_or_debug_logs(config: Path) -> None:
    sf = run(config, "--debug", "credentials", "set", "salesforce", "--stdin", input=f"{SF_SECRET}\n")
    acu = run(
        config,
        "--debug",
        "--log-format",
        "json",
        "credentials",
        "set",
        "acumatica",
        "--from-env",
        "client_secret=ACU_S",
        "--from-env",
        "password=ACU_P",
        env={"ACU_S": ACU_SECRET, "ACU_P": ACU_PASSWORD},
    )
    listed = run(config, "--debug", "credentials", "list")
    assert sf.exit_code == acu.exit_code == listed.exit_code == 0, (sf.output, acu.output, listed.output)
    written = everything_written(config.parent)
    for secret in (SF_SECRET, ACU_SECRET, ACU_PASSWORD):
        assert secret.encode() not in written
        for result in (sf, acu, listed):
            assert secret not in result.output and secret not in (result.stderr or "")
    assert "salesforce" in listed.output and "********" in listed.output
    ws = open_workspace(config)
    secrets = ws.vault().load_secrets(ws.store, ws.connection_id, "acumatica")
    assert secrets is not None and secrets["password"].get_secret_value() == ACU_PASSWORD
    ws.close()


def test_secret_on_the_command_line_is_not_accepted(config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(config), "credentials", "set", "salesforce", SF_SECRET])
    assert result.exit_code == 2 and "Got unexpected extra argument" in result.output


def test_without_a_terminal_or_flags_it_says_how_to_give_secrets(config: Path) -> None:
    result = run(config, "credentials", "set", "salesforce", input="")
    assert result.exit_code == 2
    assert "no terminal" in result.stderr and "--stdin" in result.stderr


def test_rotate_then_retire_old_key_still_decrypts(config: Path) -> None:
    assert (
        run(
            config, "credentials", "set", "salesforce", "--stdin", input=f"client_secret={SF_SECRET}\n"
        ).exit_code
        == 0
    )
    key = config.parent / "data" / "master.key"
    old_key = key.read_text().strip()
    rotated = run(config, "keys", "rotate", "--retire-old")
    assert rotated.exit_code == 0 and "re-encrypted 1 credential" in rotated.output
    assert old_key not in key.read_text() and key.stat().st_mode & 0o777 == 0o600
    ws = open_workspace(config)
    secrets = ws.vault().load_secrets(ws.store, ws.connection_id, "salesforce")
    assert secrets is not None and secrets["client_secret"].get_secret_value() == SF_SECRET
    ws.close()


def test_wrong_master_key_is_a_one_line_error_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    assert run(config, "credentials", "set", "salesforce", "--stdin", input=f"{SF_SECRET}\n").exit_code == 0
    before = everything_written(config.parent)
    other = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="  # a valid Fernet key that is not ours
    result = run(config, "keys", "rotate", env={"ML_CONNECTOR_KEYS": other})
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: cannot decrypt")
    assert "fix:" in result.stderr
    assert everything_written(config.parent) == before


def test_credentials_delete(config: Path) -> None:
    run(config, "credentials", "set", "salesforce", "--stdin", input=f"{SF_SECRET}\n")
    assert "deleted salesforce" in run(config, "credentials", "delete", "salesforce").output
    assert "nothing stored" in run(config, "credentials", "delete", "salesforce").output


def test_db_upgrade_and_version(config: Path) -> None:
    assert "schema 0001" in run(config, "db", "upgrade").output
    assert "ml-connector, version" in run(config, "--version").output


def test_config_error_prints_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "ml-connector.toml"
    bad.write_text('[salesforce]\nmy_domain_url = "nope"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "ml_connector", "--config", str(bad), "credentials", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "salesforce.my_domain_url" in proc.stderr and "Traceback" not in proc.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "ml_connector", "--debug", "--config", str(bad), "credentials", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr
