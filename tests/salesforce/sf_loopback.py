"""Serve a Salesforce sandbox on a real loopback socket (uvicorn in a background thread)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn

from ml_connector.sandbox.salesforce import SalesforceSandbox


@contextlib.contextmanager
def served(sandbox: SalesforceSandbox) -> Iterator[str]:
    """Yield the base URL while the sandbox answers on 127.0.0.1:<free port>."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sandbox.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(sandbox.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    ready = threading.Event()
    while not server.started:
        ready.wait(0.01)
    try:
        yield sandbox.base_url
    finally:
        server.should_exit = True
        thread.join(5)
