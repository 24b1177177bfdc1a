"""``ml-connector run``: the daemon (CDC in real time + scheduled polls)."""

from __future__ import annotations

import click

from ml_connector.cli._base import AppContext, console, pass_app

__all__ = ["run"]


@click.command()
@click.option("--standby", is_flag=True, help="If another run serves this connection, wait and take over.")
@pass_app
def run(app: AppContext, standby: bool) -> None:
    """Stream Salesforce changes as they happen; poll every flow on its schedule as the safety net."""
    from ml_connector.daemon import serve

    ws = app.workspace()
    try:
        console.print(
            f"ml-connector run: connection {ws.config.connection!r}, CDC from {ws.config.salesforce.pubsub_endpoint}; "
            "Ctrl-C or SIGTERM stops after the work in flight"
        )
        daemon = serve(ws, standby=standby)
    finally:
        ws.close()
    stats = daemon.stats
    console.print(
        f"stopped: {stats.batches} CDC batch(es), {stats.events} event(s), {stats.dropped_echo} own-echo dropped, "
        f"{stats.polls} poll(s), {stats.catch_ups} catch-up(s)"
    )
