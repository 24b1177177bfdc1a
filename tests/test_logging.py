from __future__ import annotations

import json

import pytest
import structlog
from pydantic import SecretStr

from ml_connector.logging import REDACTED, configure_logging, redact


def test_redact_replaces_secret_keys_at_any_depth() -> None:
    event = {
        "url": "https://x/token",
        "headers": {"Authorization": "Bearer abc.def", "Accept": "json"},
        "body": {
            "client_secret": "s3",
            "grant_type": "password",
            "password": "p",
            "items": [{"refresh_token": "r"}],
        },
        "value": SecretStr("hidden"),
    }
    cleaned = redact(event)
    assert cleaned["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert cleaned["body"]["client_secret"] == REDACTED and cleaned["body"]["password"] == REDACTED
    assert cleaned["body"]["grant_type"] == "password"
    assert cleaned["body"]["items"] == [{"refresh_token": REDACTED}]
    assert cleaned["value"] == REDACTED and cleaned["url"] == "https://x/token"


def test_debug_json_logs_never_show_secret_values(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(debug=True, log_format="json")
    structlog.get_logger("t").debug(
        "token.fetched", access_token="00Dxx!AQ0secretvalue", instance_url="https://i"
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["access_token"] == REDACTED and "secretvalue" not in line
    assert record["instance_url"] == "https://i"
