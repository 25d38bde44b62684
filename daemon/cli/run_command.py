"""`warden run`: the daemon (for now the scheduler; HTTP, Slack and the runner join it later)."""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from daemon.cli.common import ConfigOption, console, load, store_for

log = logging.getLogger(__name__)


def run(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--check", help="Build the schedule, print it and exit (no scans).")
    ] = False,
    heartbeat_file: Annotated[
        Path | None,
        typer.Option(
            envvar="WARDEN_HEARTBEAT_FILE",
            help="Touch this file every 15 s while the scheduler runs (for health checks).",
        ),
    ] = None,
) -> None:
    """Run the monitoring daemon: every monitor on its schedule until SIGTERM or Ctrl-C."""
    from daemon.scheduler import build_scheduler, describe_schedule  # deferred: engines load here

    loaded = load(config)
    store = store_for(loaded)
    identity = f"{socket.gethostname()}:{os.getpid()}"
    scheduler = build_scheduler(loaded, store, identity=identity, heartbeat_file=heartbeat_file)
    # The scheduler also holds the heartbeat and the run executor; count the monitors' jobs.
    names = {monitor.name for monitor in loaded.monitors}
    monitor_jobs = [job for job in scheduler.get_jobs() if job.id in names]
    for monitor in loaded.monitors:
        console.print(f"scheduled [bold]{monitor.name}[/]: {describe_schedule(monitor)}")
    if once:
        return
    # SIGTERM: stop taking ticks; scans already running finish before the process exits
    # (the executor threads are joined at interpreter exit).
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    console.print(
        f"warden daemon {identity} running {len(monitor_jobs)} monitor(s) and executing "
        "approved playbook runs; Ctrl-C to stop."
    )
    if "WARDEN_LOG_LEVEL" not in os.environ:
        # The daemon reports every scan (one line each); other commands stay quiet.
        logging.getLogger("daemon").setLevel(logging.INFO)
    try:
        scheduler.start()
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    app.command()(run)
