"""The ``ml-connector`` command line: thin commands over the library."""

from __future__ import annotations

from pathlib import Path

import click

from ml_connector import __version__
from ml_connector.cli._base import AppContext, ConnectorGroup
from ml_connector.cli._demo import demo
from ml_connector.cli._run import run
from ml_connector.cli._sandbox import sandbox
from ml_connector.cli._setup import credentials, db, init, keys
from ml_connector.cli._sync import audit, parked, ping, status, sync
from ml_connector.config import default_config_path
from ml_connector.logging import configure_logging

__all__ = ["cli", "main"]


@click.group(cls=ConnectorGroup)
@click.version_option(__version__, prog_name="ml-connector")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Config file (default: $ML_CONNECTOR_CONFIG or ./ml-connector.toml).",
)
@click.option("--debug", is_flag=True, help="Debug logs and full tracebacks.")
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console", show_default=True)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool, log_format: str) -> None:
    """ml-connector: Salesforce ⇄ Acumatica, exactly once, with every record's history."""
    configure_logging(debug=debug, log_format="json" if log_format == "json" else "console")
    ctx.obj = AppContext(
        config_path or default_config_path(), debug, "json" if log_format == "json" else "console"
    )


for command in (demo, sync, run, ping, status, audit, parked, init, credentials, keys, db, sandbox):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ml-connector")
