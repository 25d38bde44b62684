"""`warden run`: the daemon (for now the scheduler; HTTP, Slack and the runner join it later)."""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import Annotated

import typer

from daemon.cli.common import ConfigOption, console, load, store_for

log = logging.getLogger(__name__)


def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--check", help="Build the schedule, print it and exit (no scans).")] = False,
) -> None:
    """Run the monitoring daemon: every monitor on its schedule until SIGTERM or Ctrl-C."""
    from daemon.scheduler import build_scheduler  # deferred: the engines load only to run

    loaded = load(config)
    store = store_for(loaded)
    identity = f"{socket.gethostname()}:{os.getpid()}"
    scheduler = build_scheduler(loaded, store, identity=identity)
    for job in scheduler.get_jobs():
        console.print(f"scheduled [bold]{job.id}[/]: {job.trigger}")
    if once:
        return
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=True))
    console.print(f"warden daemon {identity} running {len(scheduler.get_jobs())} monitor(s); Ctrl-C to stop.")
    try:
        scheduler.start()
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command()(run)
