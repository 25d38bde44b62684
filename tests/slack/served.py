"""Warden's FastAPI app served for real (uvicorn on 127.0.0.1, a free port), for the tests
of the request URL, the approval API and the probes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from daemon.config.models import WardenConfig
from daemon.http.app import create_app
from daemon.http.server import HttpServer
from daemon.slack.receiver import SlackReceiver
from daemon.store.engine import Store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(store: Store, config: WardenConfig, receiver: SlackReceiver | None) -> Iterator[str]:
    """The base URL of the app while it runs."""
    port = free_port()
    server = HttpServer(create_app(store, config, receiver), "127.0.0.1", port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
