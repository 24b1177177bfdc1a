"""ping against the sandboxes: a fitting set-up passes; each misfit is named with its fix."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sync_env import Env

from ml_connector.admin import open_workspace, set_credentials
from ml_connector.ping import Check, run_ping


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {f"{c.system}:{c.name}": c for c in checks}


async def test_ping_passes_against_a_fitting_sandbox(env: Env) -> None:
    checks = _by_name(await run_ping(env.ws, env.transports))
    failed = [c for c in checks.values() if c.ok is False]
    assert failed == []
    for name in ("salesforce:token obtained", "salesforce:API version", "salesforce:custom fields",
                 "salesforce:read permission", "salesforce:API headroom", "acumatica:endpoint version",
                 "acumatica:token obtained", "acumatica:entities reachable"):  # fmt: skip
        assert checks[name].ok is True, checks[name]


async def test_ping_reports_wrong_version_missing_field_and_bad_secret_each_with_a_fix(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_ACUMATICA__ENDPOINT_VERSION", "21.200.001")
    monkeypatch.setenv("ML_CONNECTOR_MAPPING__ACCOUNT_STATUS_FIELD", "ERP_Status_Missing__c")
    env.ws.close()
    env.ws = open_workspace(env.config_path)
    set_credentials(env.ws, "salesforce", {"client_secret": SecretStr("not-the-secret")})
    checks = _by_name(await run_ping(env.ws, env.transports))
    token = checks["salesforce:token obtained"]
    assert token.ok is False and token.fix
    version = checks["acumatica:endpoint version"]
    assert version.ok is False and "24.200.001" in version.detail and "24.200.001" in (version.fix or "")
    assert sum(c.ok is False for c in checks.values()) >= 2

    set_credentials(env.ws, "salesforce", {"client_secret": SecretStr(env.pair.salesforce.client_secret)})
    fields = _by_name(await run_ping(env.ws, env.transports))["salesforce:custom fields"]
    assert fields.ok is False and "Account.ERP_Status_Missing__c is missing" in fields.detail and fields.fix


async def test_ping_output_never_shows_the_secrets(env: Env) -> None:
    checks = await run_ping(env.ws, env.transports)
    text = " ".join(f"{c.detail} {c.fix}" for c in checks)
    for secret in (env.pair.salesforce.client_secret, env.pair.acumatica.credentials.client_secret,
                   env.pair.acumatica.credentials.password):  # fmt: skip
        assert secret not in text
