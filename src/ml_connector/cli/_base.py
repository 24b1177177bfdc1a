"""The CLI's shared pieces: global options, error rendering, the console."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console

from ml_connector.admin import Workspace, open_workspace
from ml_connector.errors import ConnectorError

__all__ = ["AppContext", "ConnectorGroup", "console", "err_console", "pass_app"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@dataclass
class AppContext:
    """What every command gets: where the config is and how to log."""

    config_path: Path
    debug: bool
    log_format: Literal["console", "json"]

    def workspace(self, *, migrate: bool = False) -> Workspace:
        """Load the config and open the state store."""
        return open_workspace(self.config_path, migrate=migrate)


pass_app = click.make_pass_decorator(AppContext)


class ConnectorGroup(click.Group):
    """A click group that turns ConnectorError into one line with the cause and the fix."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; print known errors as one line (tracebacks only with --debug)."""
        try:
            return super().invoke(ctx)
        except ConnectorError as exc:
            if _debug(ctx):
                raise
            line = f"error: {exc.message}"
            if exc.hint:
                line += f" — fix: {exc.hint}"
            click.echo(line, err=True)
            sys.exit(exit_code(exc))


def _debug(ctx: click.Context) -> bool:
    app = ctx.find_object(AppContext)
    return bool(app and app.debug)


def exit_code(exc: ConnectorError) -> int:
    """Exit codes: 2 config or vault, 3 auth, 4 quota, 1 anything else."""
    from ml_connector.errors import AuthError, ConfigError, QuotaExhausted

    if isinstance(exc, ConfigError):
        return 2
    if isinstance(exc, AuthError):
        return 3
    if isinstance(exc, QuotaExhausted):
        return 4
    return 1
