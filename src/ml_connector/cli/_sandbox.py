"""``ml-connector sandbox``: serve the Salesforce and Acumatica fakes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path

import click

from ml_connector.cli._base import console

__all__ = ["sandbox"]


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless you say so)."
)
@click.option("--salesforce-port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option("--acumatica-port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--pubsub-port", type=int, default=0, show_default=True, help="Pub/Sub (gRPC) port; 0 picks one."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the deterministic demo data.")
@click.option("--accounts", type=int, default=20, show_default=True)
@click.option("--contacts-per-account", type=int, default=2, show_default=True)
@click.option("--orders", type=int, default=30, show_default=True)
@click.option("--empty", is_flag=True, help="Start without seed data.")
@click.option(
    "--write-config",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write a ready ml-connector.toml and stored credentials into this folder.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON line with every URL and credential first."
)
def sandbox(
    host: str,
    salesforce_port: int,
    acumatica_port: int,
    pubsub_port: int,
    seed: int,
    accounts: int,
    contacts_per_account: int,
    orders: int,
    empty: bool,
    write_config: Path | None,
    as_json: bool,
) -> None:
    """Serve faithful fakes of Salesforce and Acumatica until interrupted (SIGINT/SIGTERM)."""
    from ml_connector.sandbox._serve import SandboxPair, SeedSize, serve_pair
    from ml_connector.sandbox._serve import write_config as write_sandbox_config

    size = None if empty else SeedSize(seed, accounts, contacts_per_account, orders)
    pair = SandboxPair.create(size)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with serve_pair(
            pair, host=host, salesforce_port=salesforce_port, acumatica_port=acumatica_port
        ):
            info = pair.description()
            if write_config is not None:
                info["config"] = str(write_sandbox_config(pair, write_config))
            if as_json:
                click.echo(json.dumps(info), nl=True)
            else:
                console.print(
                    f"Salesforce sandbox  {info['salesforce']['url']}  (client id {info['salesforce']['client_id']})"
                )
                console.print(
                    f"Acumatica sandbox   {info['acumatica']['url']}  (tenant {info['acumatica']['tenant']})"
                )
                console.print(f"Pub/Sub (CDC)       {info['salesforce']['pubsub']}")
                if write_config is not None:
                    console.print(
                        f"Config written: {info['config']} — try `ml-connector --config {info['config']} ping`"
                    )
                console.print("Serving until Ctrl-C.")
            await stop.wait()

    asyncio.run(main())
