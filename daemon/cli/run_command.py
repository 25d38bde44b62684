"""`warden run`: the daemon: the scheduler and run executor, Slack, and the HTTP server."""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from daemon.cli.common import ConfigOption, console, load, store_for
from daemon.config.models import WardenConfig
from daemon.http.probes import DaemonState
from daemon.metrics import DaemonMetrics
from daemon.store.engine import Store

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
    http_host: Annotated[
        str | None,
        typer.Option(help="Serve HTTP on this interface (default: http.host, or 127.0.0.1)."),
    ] = None,
    http_port: Annotated[
        int | None,
        typer.Option(
            help="Serve HTTP on this port (default: http.port when the config has `http:`; "
            "without either, no HTTP server runs).",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run the monitoring daemon: every monitor on its schedule until SIGTERM or Ctrl-C.

    With `slack:` in the config it also sends incident messages and takes approvals from
    Slack (Socket Mode with `app_token`, or the request URL `/slack/actions` of the HTTP
    server with `signing_secret`). The HTTP server also serves the approval API and health.
    """
    from daemon.scheduler import build_scheduler, describe_schedule  # deferred: engines load here

    loaded = load(config)
    store = store_for(loaded)
    identity = f"{socket.gethostname()}:{os.getpid()}"
    metrics = DaemonMetrics(store)
    scheduler = build_scheduler(
        loaded, store, identity=identity, heartbeat_file=heartbeat_file, metrics=metrics
    )
    # The scheduler also holds the heartbeat and the run executor; count the monitors' jobs.
    names = {monitor.name for monitor in loaded.monitors}
    monitor_jobs = [job for job in scheduler.get_jobs() if job.id in names]
    for monitor in loaded.monitors:
        console.print(f"scheduled [bold]{monitor.name}[/]: {describe_schedule(monitor)}")
    if once:
        return
    state = DaemonState(scheduler_running=lambda: scheduler.running, metrics=metrics)
    services = _start_services(loaded, store, http_host, http_port, state)
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
        for service in reversed(services):
            service.stop()
        store.close()


def _start_services(
    config: WardenConfig, store: Store, host: str | None, port: int | None, state: DaemonState
) -> list[Any]:
    """Slack's threads and the HTTP server, as configured; started, to be stopped."""
    started: list[Any] = []
    slack = None
    if config.slack is not None:
        from daemon.slack.service import SlackService

        slack = SlackService(store, config)
        slack.start()
        watch = slack.socket_watch
        if watch is not None:
            state.slack_connected = lambda: watch.connected
        started.append(slack)
        if config.slack.app_token:
            mode = "clicks via Socket Mode"
        elif config.slack.signing_secret:
            mode = "clicks via the request URL /slack/actions"
        else:
            mode = (
                "[yellow]no clicks: set slack.app_token (Socket Mode) or "
                "slack.signing_secret (request URL) to take decisions from Slack[/]"
            )
        console.print(f"Slack: messages to {config.slack.channel or 'routed channels'}; {mode}")
    if port is not None or config.http is not None:
        from daemon.http.app import create_app
        from daemon.http.server import HttpServer

        host = host or (config.http.host if config.http else "127.0.0.1")
        port = port or (config.http.port if config.http else 8080)
        app = create_app(store, config, slack.receiver if slack else None, state)
        server = HttpServer(app, host, port)
        server.start()
        started.append(server)
        console.print(
            f"HTTP on http://{host}:{port} (/healthz, /readyz, /metrics, /api/runs/..., "
            "/slack/actions)"
        )
    elif config.slack is not None and config.slack.signing_secret and not config.slack.app_token:
        console.print(
            "[yellow]warning:[/] slack.signing_secret is set but no HTTP server runs, so Slack "
            "cannot reach /slack/actions: add an `http:` block or --http-port"
        )
    return started


def register(app: typer.Typer) -> None:
    app.command()(run)
