"""Set-up commands: init, credentials, keys, db."""

from __future__ import annotations

import os
import sys

import click
from pydantic import SecretStr
from rich.table import Table

from ml_connector import admin
from ml_connector.cli._base import AppContext, console, pass_app
from ml_connector.errors import ConfigError
from ml_connector.vault import CREDENTIAL_FIELDS

__all__ = ["credentials", "db", "init", "keys"]

SYSTEMS = click.Choice(["salesforce", "acumatica"])


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file with the template.")
@pass_app
def init(app: AppContext, force: bool) -> None:
    """Create the config template, the master key file (0600) and the state database."""
    result = admin.initialise(app.config_path, force=force)
    if result.config_written:
        console.print(f"✔ wrote config template {result.config_path} — edit it for your org and tenant")
    if result.key_created:
        console.print(f"✔ created master key file {result.key_path} (mode 0600) — back it up safely")
    console.print(f"✔ state database ready at schema {result.revision}: {result.database_url}")
    for note in result.notes:
        console.print(f"• {note}")
    console.print(
        "Next: `ml-connector credentials set salesforce` and `ml-connector credentials set acumatica`."
    )


@click.group()
def credentials() -> None:
    """Store, list and delete the encrypted Salesforce and Acumatica secrets."""


def _read_secrets(kind: str, stdin: bool, from_env: tuple[str, ...]) -> dict[str, SecretStr]:
    names = CREDENTIAL_FIELDS[kind]
    secrets: dict[str, SecretStr] = {}
    for item in from_env:
        name, sep, variable = item.partition("=")
        if not sep or name not in names:
            raise ConfigError(
                f"--from-env {item!r} is not NAME=VARIABLE with NAME one of {', '.join(names)}",
                hint=f"e.g. --from-env {names[0]}=MY_SECRET_VARIABLE",
            )
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(
                f"environment variable {variable} is not set or empty", hint=f"export {variable} first"
            )
        secrets[name] = SecretStr(value)
    if stdin:
        lines = [line.rstrip("\r\n") for line in sys.stdin.read().splitlines() if line.strip()]
        if len(names) == 1 and len(lines) == 1 and "=" not in lines[0]:
            secrets[names[0]] = SecretStr(lines[0])
        else:
            for line in lines:
                name, sep, value = line.partition("=")
                if not sep or name.strip() not in names:
                    raise ConfigError(
                        f"stdin line for {name.strip()!r} is not NAME=VALUE with NAME one of {', '.join(names)}",
                        hint="send one name=value line per secret",
                    )
                secrets[name.strip()] = SecretStr(value)
    missing = [name for name in names if name not in secrets]
    if missing and (stdin or from_env):
        raise ConfigError(f"missing {', '.join(missing)}", hint="give every secret by --stdin or --from-env")
    if missing and not sys.stdin.isatty():
        raise ConfigError(
            "no terminal to ask for the secrets on",
            hint="pipe them with --stdin (name=value lines) or name variables with --from-env NAME=VARIABLE",
        )
    for name in missing:
        secrets[name] = SecretStr(click.prompt(f"{kind} {name}", hide_input=True, confirmation_prompt=False))
    return secrets


@credentials.command("set")
@click.argument("system", type=SYSTEMS)
@click.option(
    "--stdin", "use_stdin", is_flag=True, help="Read name=value lines (or one bare secret) from stdin."
)
@click.option(
    "--from-env", multiple=True, metavar="NAME=VARIABLE", help="Take a secret from an environment variable."
)
@pass_app
def set_credentials(app: AppContext, system: str, use_stdin: bool, from_env: tuple[str, ...]) -> None:
    """Store SYSTEM's secrets encrypted (asked without echo; never taken from the command line)."""
    secrets = _read_secrets(system, use_stdin, from_env)
    ws = app.workspace()
    try:
        admin.set_credentials(ws, system, secrets)
    finally:
        ws.close()
    console.print(f"✔ stored {system} credentials ({', '.join(secrets)}) encrypted")


@credentials.command("list")
@pass_app
def list_credentials(app: AppContext) -> None:
    """Show which credentials are stored (values masked)."""
    ws = app.workspace()
    try:
        rows = admin.list_credentials(ws)
    finally:
        ws.close()
    table = Table("kind", "fields", "value", "key id", "updated", "opens with current keys")
    for row in rows:
        table.add_row(
            row.kind,
            ", ".join(row.fields),
            "********",
            row.key_id,
            row.updated_at,
            "✔" if row.readable else "✖",
        )
    console.print(
        table if rows else "no credentials stored — run `ml-connector credentials set salesforce|acumatica`"
    )


@credentials.command("delete")
@click.argument("system", type=SYSTEMS)
@pass_app
def delete_credentials(app: AppContext, system: str) -> None:
    """Delete SYSTEM's stored secrets."""
    ws = app.workspace()
    try:
        deleted = [kind for kind in (system, f"{system}_token") if admin.delete_credentials(ws, kind)]
    finally:
        ws.close()
    console.print(f"✔ deleted {', '.join(deleted)}" if deleted else f"nothing stored for {system}")


@click.group()
def keys() -> None:
    """Manage the master keys that encrypt stored credentials."""


@keys.command("rotate")
@click.option(
    "--retire-old", is_flag=True, help="Drop the old keys from the key file once all rows are re-encrypted."
)
@pass_app
def rotate(app: AppContext, retire_old: bool) -> None:
    """Re-encrypt every credential with a new master key, in one transaction."""
    ws = app.workspace()
    try:
        result = admin.rotate_keys(ws, retire_old=retire_old)
    finally:
        ws.close()
    console.print(f"✔ re-encrypted {result.rows} credential(s) with key {result.new_key_id}")
    if result.key_file and not retire_old:
        console.print(f"• old keys kept in {result.key_file}; run again with --retire-old to drop them")
    if result.key_file is None:
        console.print("• keys come from ML_CONNECTOR_KEYS: you can now remove the old keys from it")


@click.group()
def db() -> None:
    """State database maintenance."""


@db.command("upgrade")
@pass_app
def upgrade(app: AppContext) -> None:
    """Apply pending schema migrations."""
    ws = app.workspace(migrate=True)
    try:
        revision = ws.store.schema_revision()
    finally:
        ws.close()
    console.print(f"✔ state database at schema {revision}")
