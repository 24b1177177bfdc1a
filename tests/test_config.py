from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.config import load_config, render_template
from ml_connector.errors import ConfigError


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "ml-connector.toml"
    path.write_text(render_template(), encoding="utf-8")
    return path


def test_template_loads_with_defaults_beside_the_file(config_file: Path) -> None:
    config = load_config(config_file)
    assert config.database_url == f"sqlite:///{config_file.parent / 'data' / 'state.db'}"
    assert config.key_path == config_file.parent / "data" / "master.key"
    assert config.acumatica.endpoint_version == "24.200.001"
    assert config.flows.orders.interval_seconds == 120
    assert config.mapping.release_invoices is False


def test_unknown_key_is_rejected_with_its_path(config_file: Path) -> None:
    config_file.write_text(render_template().replace("max_concurrent_requests", "max_concurent_requests"))
    with pytest.raises(ConfigError, match=r"acumatica\.max_concurent_requests: unknown key"):
        load_config(config_file)


def test_bad_url_is_rejected_with_its_path(config_file: Path) -> None:
    config_file.write_text(render_template(sf_url="not a url"))
    with pytest.raises(ConfigError, match=r"salesforce\.my_domain_url: .*URL"):
        load_config(config_file)


def test_client_id_must_name_the_configured_tenant(config_file: Path) -> None:
    config_file.write_text(render_template(acu_client_id="8f2b7c1e-1111-2222-3333-444455556666@Other"))
    with pytest.raises(ConfigError, match="names tenant 'Other'"):
        load_config(config_file)


def test_bad_schedule_says_what_is_accepted(config_file: Path) -> None:
    config_file.write_text(render_template().replace('schedule = "2m"', 'schedule = "sometimes"'))
    with pytest.raises(ConfigError, match=r"flows\.orders\.schedule: .*'5m'"):
        load_config(config_file)


def test_cron_schedule_is_accepted(config_file: Path) -> None:
    config_file.write_text(render_template().replace('schedule = "2m"', 'schedule = "*/2 * * * *"'))
    assert load_config(config_file).flows.orders.interval_seconds is None


def test_secrets_in_the_file_are_refused_and_pointed_to_the_vault(config_file: Path) -> None:
    text = render_template().replace(
        'username = "api-user"', 'username = "api-user"\npassword = "hunter2hunter2"'
    )
    config_file.write_text(text)
    with pytest.raises(ConfigError, match=r"acumatica\.password: secrets are never read") as info:
        load_config(config_file)
    assert "hunter2" not in str(info.value)
    assert "credentials set" in (info.value.hint or "")


def test_environment_overrides_the_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__ENDPOINT_VERSION", "23.200.001")
    monkeypatch.setenv("ML_CONNECTOR_DATABASE__URL", "postgresql+psycopg://u@db/x")
    config = load_config(config_file)
    assert config.acumatica.endpoint_version == "23.200.001"
    assert config.database_url == "postgresql+psycopg://u@db/x"


def test_environment_typo_is_rejected(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CONNECTOR_SALESFORCE__API_VERSON", "61.0")
    with pytest.raises(ConfigError, match=r"salesforce\.api_verson: unknown key"):
        load_config(config_file)


def test_missing_file_and_bad_toml_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ml-connector init"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[salesforce\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_relative_sqlite_url_is_taken_from_the_config_folder(config_file: Path) -> None:
    config_file.write_text(
        render_template().replace("[database]", '[database]\nurl = "sqlite:///state/x.db"')
    )
    assert load_config(config_file).database_url == f"sqlite:///{config_file.parent / 'state' / 'x.db'}"
