"""Encrypted credentials: MultiFernet over master keys, payloads bound to their connection and kind.

Keys come from ``ML_CONNECTOR_KEYS`` (comma-separated, newest first) or from the key file that
``ml-connector init`` creates with mode 0600 (one key a line, newest first). New ciphertext is always
made with the newest key; older keys only decrypt. The plaintext JSON carries the connection id and
the credential kind and both are checked on decrypt, so a ciphertext copied into another row is
refused. The id of the key that encrypted a row is stored beside it (``credentials.key_id``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from ml_connector.errors import VaultError
from ml_connector.store import CredentialRow, StateStore

__all__ = [
    "CREDENTIAL_FIELDS",
    "KEYS_ENV",
    "Vault",
    "create_key_file",
    "generate_key",
    "key_id",
    "load_keys",
    "write_key_file",
]

KEYS_ENV = "ML_CONNECTOR_KEYS"

# The secrets each system needs; `credentials set` asks for exactly these.
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "salesforce": ("client_secret",),
    "acumatica": ("client_secret", "password"),
    # Written by the connector itself: Acumatica's rotating refresh token.
    "acumatica_token": ("refresh_token",),
}


def generate_key() -> str:
    """A new random Fernet key (url-safe base64, 32 bytes)."""
    return Fernet.generate_key().decode("ascii")


def key_id(key: str) -> str:
    """A short, non-secret fingerprint of a key, stored beside each ciphertext."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:12]


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (0600) from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file with ``keys`` (newest first), mode 0600."""
    _write_private(path, "".join(f"{key}\n" for key in keys))


def create_key_file(path: Path) -> bool:
    """Create a key file with one new key unless one exists; True when created."""
    if path.exists():
        return False
    write_key_file(path, [generate_key()])
    return True


def load_keys(key_file: Path | None) -> list[str]:
    """Master keys, newest first: ``ML_CONNECTOR_KEYS`` wins over the key file."""
    env = os.environ.get(KEYS_ENV, "").strip()
    if env:
        keys = [k.strip() for k in env.split(",") if k.strip()]
    elif key_file is not None and key_file.exists():
        mode = key_file.stat().st_mode & 0o777
        if mode & 0o077:
            raise VaultError(
                f"key file {key_file} is readable by others (mode {mode:o})",
                hint=f"run `chmod 600 {key_file}`",
            )
        keys = [line.strip() for line in key_file.read_text("ascii").splitlines() if line.strip()]
    else:
        raise VaultError(
            "no master key: ML_CONNECTOR_KEYS is not set and there is no key file"
            + (f" at {key_file}" if key_file else ""),
            hint="run `ml-connector init` to create the key file, or set ML_CONNECTOR_KEYS",
        )
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise VaultError(
                f"a master key (id {key_id(key) if key.isascii() else '?'}) is not a valid Fernet key",
                hint="keys are 44-character url-safe base64 strings, as `ml-connector init` writes them",
            ) from None
    if not keys:
        raise VaultError(
            "the master key list is empty", hint="run `ml-connector init` or set ML_CONNECTOR_KEYS"
        )
    return keys


@dataclass(frozen=True)
class Vault:
    """Encrypts and decrypts credentials with the master keys (newest first)."""

    keys: tuple[str, ...]

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Vault:
        """A vault over ``keys`` (newest first)."""
        if not keys:
            raise VaultError("no master key given", hint="run `ml-connector init` or set ML_CONNECTOR_KEYS")
        return cls(tuple(keys))

    @property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])

    @property
    def current_key_id(self) -> str:
        """Fingerprint of the key new ciphertext is made with."""
        return key_id(self.keys[0])

    def encrypt(self, connection_id: int, kind: str, secrets: Mapping[str, SecretStr]) -> tuple[str, str]:
        """Ciphertext of ``secrets`` bound to (connection, kind); returns ``(key_id, ciphertext)``."""
        payload = {
            "connection_id": connection_id,
            "kind": kind,
            "secrets": {name: value.get_secret_value() for name, value in secrets.items()},
        }
        token = self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return self.current_key_id, token.decode("ascii")

    def decrypt(self, connection_id: int, kind: str, ciphertext: str) -> dict[str, SecretStr]:
        """The secrets of one credential; refuses a wrong key or a payload from another row."""
        try:
            plain = self._fernet.decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            raise VaultError(
                f"cannot decrypt the {kind} credential: none of the master keys opens it",
                hint="set ML_CONNECTOR_KEYS (or the key file) to the key it was stored with, "
                "or store the credential again with `ml-connector credentials set`",
            ) from None
        payload = json.loads(plain)
        if payload.get("connection_id") != connection_id or payload.get("kind") != kind:
            raise VaultError(
                f"the stored {kind} credential belongs to another connection or kind",
                hint=f"store it again with `ml-connector credentials set {kind.split('_')[0]}`",
            )
        return {name: SecretStr(value) for name, value in payload["secrets"].items()}

    def rotate_row(self, row: CredentialRow) -> CredentialRow:
        """The same credential re-encrypted with the newest key (checked before re-encrypting)."""
        self.decrypt(row.connection_id, row.kind, row.ciphertext)
        token = self._fernet.rotate(row.ciphertext.encode("ascii")).decode("ascii")
        return CredentialRow(row.connection_id, row.kind, self.current_key_id, token, row.updated_at)

    # -- with the store ------------------------------------------------------------------------
    def store_secrets(
        self, store: StateStore, connection_id: int, kind: str, secrets: Mapping[str, SecretStr]
    ) -> None:
        """Encrypt and save one credential."""
        kid, token = self.encrypt(connection_id, kind, secrets)
        store.put_credential(connection_id, kind, kid, token)

    def load_secrets(self, store: StateStore, connection_id: int, kind: str) -> dict[str, SecretStr] | None:
        """Load and decrypt one credential, or None when it was never stored."""
        row = store.get_credential(connection_id, kind)
        return None if row is None else self.decrypt(connection_id, kind, row.ciphertext)

    def rotate_all(self, store: StateStore) -> int:
        """Re-encrypt every stored credential with the newest key, all in one transaction.

        Every row is decrypted and re-encrypted in memory first; if any fails, nothing is written.
        """
        rotated = [self.rotate_row(row) for row in store.list_credentials()]
        return store.replace_credentials(rotated)
