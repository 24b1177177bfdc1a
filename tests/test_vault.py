from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from ml_connector.errors import VaultError
from ml_connector.store import StateStore
from ml_connector.vault import Vault, create_key_file, generate_key, key_id, load_keys, write_key_file

SECRET = "sf-Secret-1234567890-value"


def test_round_trip_is_bound_to_connection_and_kind() -> None:
    vault = Vault.from_keys([generate_key()])
    kid, token = vault.encrypt(1, "salesforce", {"client_secret": SecretStr(SECRET)})
    assert kid == vault.current_key_id and SECRET not in token
    assert vault.decrypt(1, "salesforce", token)["client_secret"].get_secret_value() == SECRET
    with pytest.raises(VaultError, match="another connection or kind"):
        vault.decrypt(2, "salesforce", token)
    with pytest.raises(VaultError, match="another connection or kind"):
        vault.decrypt(1, "acumatica", token)


def test_wrong_key_fails_clearly() -> None:
    _, token = Vault.from_keys([generate_key()]).encrypt(
        1, "salesforce", {"client_secret": SecretStr(SECRET)}
    )
    with pytest.raises(VaultError, match="none of the master keys opens it") as info:
        Vault.from_keys([generate_key()]).decrypt(1, "salesforce", token)
    assert "ML_CONNECTOR_KEYS" in (info.value.hint or "")


def test_rotation_re_encrypts_every_row_so_the_old_key_can_go(store: StateStore) -> None:
    old = generate_key()
    cid = store.ensure_connection("default")
    Vault.from_keys([old]).store_secrets(store, cid, "salesforce", {"client_secret": SecretStr(SECRET)})
    new = generate_key()
    assert Vault.from_keys([new, old]).rotate_all(store) == 1
    row = store.get_credential(cid, "salesforce")
    assert row is not None and row.key_id == key_id(new)
    secrets = Vault.from_keys([new]).load_secrets(store, cid, "salesforce")
    assert secrets is not None and secrets["client_secret"].get_secret_value() == SECRET


def test_rotation_with_an_unopenable_row_changes_nothing(store: StateStore) -> None:
    a, b = generate_key(), generate_key()
    cid = store.ensure_connection("default")
    Vault.from_keys([a]).store_secrets(store, cid, "salesforce", {"client_secret": SecretStr(SECRET)})
    Vault.from_keys([b]).store_secrets(
        store, cid, "acumatica", {"client_secret": SecretStr("x"), "password": SecretStr("y")}
    )
    before = store.list_credentials(cid)
    with pytest.raises(VaultError):
        Vault.from_keys([generate_key(), a]).rotate_all(store)  # cannot open the acumatica row
    assert [(r.kind, r.ciphertext) for r in store.list_credentials(cid)] == [
        (r.kind, r.ciphertext) for r in before
    ]


def test_key_file_is_private_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    path = tmp_path / "data" / "master.key"
    assert create_key_file(path) and not create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    from_file = load_keys(path)
    assert len(from_file) == 1
    env_keys = [generate_key(), generate_key()]
    monkeypatch.setenv("ML_CONNECTOR_KEYS", ",".join(env_keys))
    assert load_keys(path) == env_keys


def test_key_file_readable_by_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    path = tmp_path / "master.key"
    write_key_file(path, [generate_key()])
    os.chmod(path, 0o644)
    with pytest.raises(VaultError, match="readable by others") as info:
        load_keys(path)
    assert "chmod 600" in (info.value.hint or "")


def test_missing_and_malformed_keys_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_KEYS", raising=False)
    with pytest.raises(VaultError, match="no master key"):
        load_keys(tmp_path / "absent.key")
    monkeypatch.setenv("ML_CONNECTOR_KEYS", "not-a-fernet-key")
    with pytest.raises(VaultError, match="not a valid Fernet key"):
        load_keys(None)
