from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx2

from ml_connector.admin import open_workspace


def test_sandbox_serves_both_fakes_prints_credentials_and_writes_a_config(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ml_connector",
            "sandbox",
            "--json",
            "--accounts",
            "3",
            "--orders",
            "2",
            "--write-config",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        sf, acu = info["salesforce"], info["acumatica"]
        assert sf["url"].startswith("http://127.0.0.1:") and acu["url"].endswith("/AcumaticaERP")
        token = httpx2.post(
            sf["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": sf["client_id"],
                "client_secret": sf["client_secret"],
            },
        )
        assert token.status_code == 200 and token.json()["instance_url"] == sf["url"]
        endpoints = httpx2.get(f"{acu['url']}/entity")
        assert endpoints.status_code == 200
        for control in (sf["control"], acu["control"]):  # the printed control surfaces answer
            assert httpx2.get(f"{control}stats").status_code == 200
        ws = open_workspace(Path(info["config"]))
        try:
            assert str(ws.config.salesforce.my_domain_url).rstrip("/") == sf["url"]
            assert ws.config.acumatica.client_id == acu["client_id"]
            assert ws.config.salesforce.pubsub_endpoint == sf["pubsub"] and sf["pubsub"].startswith(
                "127.0.0.1:"
            )
            stored = ws.vault().load_secrets(ws.store, ws.connection_id, "acumatica")
            assert stored is not None and stored["password"].get_secret_value() == acu["password"]
        finally:
            ws.close()
        assert sf["client_secret"].encode() not in Path(info["config"]).read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
