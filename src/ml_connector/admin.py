"""Set-up operations behind the CLI: init, credentials, key rotation, database upgrade.

Each is a plain function so everything the CLI does can be done from Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from ml_connector.config import ConnectorConfig, load_config, render_template
from ml_connector.errors import ConfigError, VaultError
from ml_connector.store import StateStore, require_schema
from ml_connector.vault import (
    CREDENTIAL_FIELDS,
    KEYS_ENV,
    Vault,
    create_key_file,
    generate_key,
    key_id,
    load_keys,
    write_key_file,
)

__all__ = [
    "CredentialSummary",
    "InitResult",
    "Workspace",
    "delete_credentials",
    "initialise",
    "list_credentials",
    "open_workspace",
    "rotate_keys",
    "set_credentials",
]


@dataclass
class InitResult:
    """What ``init`` did."""

    config_path: Path
    config_written: bool
    key_path: Path | None
    key_created: bool
    database_url: str
    revision: str | None
    notes: list[str] = field(default_factory=list)


@dataclass
class Workspace:
    """A loaded config with its state store and connection id (the vault is opened on demand)."""

    config: ConnectorConfig
    store: StateStore
    connection_id: int

    def vault(self) -> Vault:
        """The vault over the configured master keys."""
        return Vault.from_keys(load_keys(self.config.key_path))

    def close(self) -> None:
        """Release the database."""
        self.store.close()


def open_workspace(config_path: Path | None, *, migrate: bool = False) -> Workspace:
    """Load the config and open its state store (which must already have a schema unless migrating)."""
    config = load_config(config_path)
    store = StateStore.open(config.database_url, migrate=migrate)
    if not migrate:
        require_schema(store)
    return Workspace(config, store, store.ensure_connection(config.connection))


def initialise(
    config_path: Path, *, force: bool = False, values: Mapping[str, str] | None = None
) -> InitResult:
    """Create the config template, the master key file (0600) and the state DB; safe to run again.

    An existing config is kept unless ``force``; an existing key file is never replaced (that would
    make every stored credential unreadable).
    """
    notes: list[str] = []
    written = False
    if config_path.exists() and not force:
        notes.append(f"kept the existing config {config_path} (use --force to overwrite it)")
    else:
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(render_template(**(values or {})), encoding="utf-8")
        written = True
    config = load_config(config_path)
    key_created = False
    key_path: Path | None = None
    if os.environ.get(KEYS_ENV, "").strip():
        notes.append(f"master keys come from {KEYS_ENV}; no key file written")
        load_keys(None)  # validates them
    else:
        key_path = config.key_path
        key_created = create_key_file(key_path)
        if not key_created:
            notes.append(f"kept the existing key file {key_path}")
        load_keys(key_path)
    store = StateStore.open(config.database_url, migrate=True)
    try:
        store.ensure_connection(config.connection)
        revision = store.schema_revision()
    finally:
        store.close()
    _owner_only_sqlite(config.database_url)
    return InitResult(config_path, written, key_path, key_created, config.database_url, revision, notes)


def _owner_only_sqlite(database_url: str) -> None:
    """A SQLite state file holds the (encrypted) credentials and the ledger: owner-only, like the key.

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's mode, so they follow.
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(url.database + suffix)
        if path.exists():
            path.chmod(0o600)


def _check_kind(kind: str, secrets: Mapping[str, SecretStr]) -> None:
    expected = CREDENTIAL_FIELDS.get(kind)
    if expected is None:
        raise ConfigError(
            f"unknown credential kind {kind!r}", hint=f"use one of {', '.join(CREDENTIAL_FIELDS)}"
        )
    missing = [name for name in expected if not secrets.get(name, SecretStr("")).get_secret_value()]
    unknown = sorted(set(secrets) - set(expected))
    if missing or unknown:
        raise ConfigError(
            f"{kind} credentials need {', '.join(expected)}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not expected: {', '.join(unknown)}" if unknown else ""),
            hint="give each secret once, by prompt, --stdin (name=value lines) or --from-env NAME=VARIABLE",
        )


def set_credentials(ws: Workspace, kind: str, secrets: Mapping[str, SecretStr]) -> None:
    """Encrypt and store the secrets of ``kind`` for the workspace's connection."""
    _check_kind(kind, secrets)
    ws.vault().store_secrets(ws.store, ws.connection_id, kind, secrets)


@dataclass(frozen=True)
class CredentialSummary:
    """A credential as ``credentials list`` shows it: never its value."""

    kind: str
    fields: tuple[str, ...]
    key_id: str
    updated_at: str
    readable: bool


def list_credentials(ws: Workspace) -> list[CredentialSummary]:
    """Stored credentials of the connection, masked; ``readable`` says whether the keys open them."""
    try:
        vault: Vault | None = ws.vault()
    except VaultError:
        vault = None
    out = []
    for row in ws.store.list_credentials(ws.connection_id):
        names: tuple[str, ...] = CREDENTIAL_FIELDS.get(row.kind, ())
        readable = False
        if vault is not None:
            try:
                names = tuple(vault.decrypt(row.connection_id, row.kind, row.ciphertext))
                readable = True
            except VaultError:
                readable = False
        out.append(
            CredentialSummary(
                row.kind, names, row.key_id, row.updated_at.isoformat(timespec="seconds"), readable
            )
        )
    return out


def delete_credentials(ws: Workspace, kind: str) -> bool:
    """Remove one stored credential; True when there was one."""
    return ws.store.delete_credential(ws.connection_id, kind)


@dataclass(frozen=True)
class RotateResult:
    """What ``keys rotate`` did."""

    new_key_id: str
    rows: int
    key_file: Path | None
    retired: int


def rotate_keys(ws: Workspace, *, retire_old: bool = False) -> RotateResult:
    """Re-encrypt every credential with a new key, in one transaction.

    With the key file: a new key is generated and put first (old keys kept so nothing is lost if the
    process dies between the two steps), every row is re-encrypted, then with ``retire_old`` the old
    keys are dropped from the file. With ``ML_CONNECTOR_KEYS``: put the new key first in the variable
    yourself; this re-encrypts every row with it, after which the old ones can be removed.
    """
    if os.environ.get(KEYS_ENV, "").strip():
        vault = Vault.from_keys(load_keys(None))
        rows = vault.rotate_all(ws.store)
        return RotateResult(vault.current_key_id, rows, None, 0)
    path = ws.config.key_path
    old = load_keys(path)
    new = generate_key()
    write_key_file(path, [new, *old])
    vault = Vault.from_keys([new, *old])
    rows = vault.rotate_all(ws.store)  # one transaction; on failure the old rows stay valid
    retired = 0
    if retire_old:
        write_key_file(path, [new])
        retired = len(old)
    return RotateResult(key_id(new), rows, path, retired)
