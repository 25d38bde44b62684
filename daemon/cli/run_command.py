"""`warden run`: the daemon: the scheduler and run executor, Slack, and the HTTP server."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.common import ConfigOption, UsageProblem, console, load, store_for
from daemon.cli.safe_text import data_markup
from daemon.store.identities import new_identity

if TYPE_CHECKING:
    from daemon.config.models import WardenConfig
    from daemon.http.probes import DaemonState
    from daemon.runtime.inflight import Lifecycle
    from daemon.runtime.sqlite_lock import SqliteDaemonLock
    from daemon.store.engine import Store

log = logging.getLogger(__name__)


#: /healthz fails when the scheduler's heartbeat job (every HEARTBEAT_SECONDS, on its own
#: thread) has not run for this many heartbeats: the scheduler loop is stuck.
STUCK_AFTER_HEARTBEATS = 4


class LogFormat(StrEnum):
    auto = "auto"
    json = "json"
    text = "text"


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
    log_format: Annotated[
        LogFormat,
        typer.Option(
            envvar="WARDEN_LOG_FORMAT",
            help="Log lines as JSON objects (one per line, with monitor, incident and run "
            "ids) or as text; `auto`: JSON unless stderr is a terminal.",
        ),
    ] = LogFormat.auto,
) -> None:
    """Run the monitoring daemon: every monitor on its schedule until SIGTERM or Ctrl-C.

    With `slack:` in the config it also sends incident messages and takes approvals from
    Slack (Socket Mode with `app_token`, or the request URL `/slack/actions` of the HTTP
    server with `signing_secret`). The HTTP server also serves the approval API and health.

    On a SQLite store only one daemon may run; on PostgreSQL, run as many replicas as you
    like: each tick is scanned once. SIGTERM stops taking work and gives work under way
    `daemon.shutdown_grace` (default 30s) to finish; at start, and every minute, the daemon
    resumes what a crashed daemon left (`daemon.runtime.reconciler`).
    """
    from daemon.http.metrics import DaemonMetrics
    from daemon.http.probes import DaemonState
    from daemon.runtime.cpu_profile import CpuProfile
    from daemon.runtime.inflight import Lifecycle
    from daemon.runtime.instances import register as register_instance
    from daemon.runtime.json_logs import use_json_logs
    from daemon.runtime.scheduler import (  # deferred: engines load here
        build_scheduler,
        describe_schedule,
    )
    from daemon.runtime.sqlite_lock import SecondDaemon, SqliteDaemonLock
    from daemon.store.engine import check_integrity

    loaded = load(config)
    store = store_for(loaded)
    check_integrity(store)  # a damaged SQLite store could lose approvals: refuse it
    identity = new_identity()
    if log_format == LogFormat.json or (log_format == LogFormat.auto and not sys.stderr.isatty()):
        use_json_logs(identity)
    metrics = DaemonMetrics(store)
    lifecycle = Lifecycle()
    scheduler = build_scheduler(
        loaded,
        store,
        identity=identity,
        heartbeat_file=heartbeat_file,
        metrics=metrics,
        lifecycle=lifecycle,
    )
    # The scheduler also holds the heartbeat, executor and reconciler; count the monitors'.
    names = {monitor.name for monitor in loaded.monitors}
    monitor_jobs = [job for job in scheduler.get_jobs() if job.id in names]
    for monitor in loaded.monitors:
        schedule = data_markup(describe_schedule(monitor, spread=loaded.daemon.spread_ticks))
        console.print(f"scheduled [bold]{data_markup(monitor.name)}[/]: {schedule}")
    if once:
        return
    # Handlers first: a SIGTERM while starting up also stops cleanly.
    lifecycle.install_signal_handlers(lambda: _stop_scheduler(scheduler))
    lock = SqliteDaemonLock.for_store(store)
    if lock is not None:
        try:
            lock.acquire(identity)
        except SecondDaemon as error:
            raise UsageProblem(str(error)) from None
    register_instance(store, identity)
    if "WARDEN_LOG_LEVEL" not in os.environ:
        # The daemon reports every scan (one line each); other commands stay quiet.
        logging.getLogger("daemon").setLevel(logging.INFO)
    state = DaemonState(
        scheduler_running=lambda: scheduler.running,
        stopping=lifecycle.stopping.is_set,
        stuck=lambda: _stuck(lifecycle),
        metrics=metrics,
    )
    services: list[Any] = []
    CpuProfile.from_environment()  # bench only: where the CPU goes, by kind of work
    try:
        services.extend(_start_services(loaded, store, http_host, http_port, state))
        console.print(
            f"warden daemon {identity} running {len(monitor_jobs)} monitor(s) and executing "
            "approved playbook runs; Ctrl-C to stop."
        )
        if not lifecycle.stopping.is_set():
            scheduler.start()
    finally:
        _stop(loaded, store, identity, lifecycle, scheduler, services, lock)


def _stop_scheduler(scheduler: Any, patience: float = 10.0) -> None:
    """Stop the scheduler from the signal's thread; a signal that came while the daemon was
    still starting waits for `start()` (which checks `stopping` just before) to get going."""
    deadline = time.monotonic() + patience
    while not scheduler.running and time.monotonic() < deadline:
        time.sleep(0.05)
    if scheduler.running:
        scheduler.shutdown(wait=False)


def _stop_children(timeout: float = 5.0) -> None:
    """Terminate the playbook apply processes this daemon started, and wait for them."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout)
        if child.is_alive():
            child.kill()


def _stuck(lifecycle: Lifecycle) -> str | None:
    from daemon.config.runtime import HEARTBEAT_SECONDS

    silent = lifecycle.stuck_for(STUCK_AFTER_HEARTBEATS * HEARTBEAT_SECONDS)
    if silent is None or lifecycle.stopping.is_set():
        return None
    return f"the scheduler has not run its heartbeat for {silent:.0f} s"


def _stop(
    config: WardenConfig,
    store: Store,
    identity: str,
    lifecycle: Lifecycle,
    scheduler: Any,
    services: list[Any],
    lock: SqliteDaemonLock | None,
) -> None:
    """Stop taking work, give work under way `daemon.shutdown_grace`, then stop services and
    record this daemon as stopped. Exits at once (status 0) when work is left running: it
    stays claimed by this stopped daemon and the next one resumes it."""
    from daemon.runtime.instances import mark_stopped

    lifecycle.stopping.set()
    if scheduler.running:
        scheduler.shutdown(wait=False)
    grace = config.daemon.shutdown_grace.total_seconds()
    running = lifecycle.inflight.running()
    if running:
        log.info("stopping: waiting up to %.0f s for %s", grace, "; ".join(running))
    left = lifecycle.inflight.wait_idle(grace, lifecycle.hurry)
    for service in reversed(services):
        service.stop()
    if left:
        # A playbook run's apply child must be gone before this daemon is recorded as
        # stopped: that record lets another daemon take the run over at once.
        _stop_children()
    try:
        mark_stopped(store, identity)
    except Exception:  # the store is away: others presume this daemon dead by its heartbeat
        log.exception("could not record this daemon as stopped")
    if left:
        log.warning(
            "stopped with work under way, left for the next daemon to resume: %s",
            "; ".join(left),
            extra={"identity": identity},
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # Worker threads cannot be interrupted, and interpreter exit would wait for them.
        # The SQLite lock is not released by hand: the OS drops it with the process.
        os._exit(0)
    if lock is not None:
        lock.release()
    store.close()
    log.info("stopped cleanly", extra={"identity": identity})


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
        channel = data_markup(config.slack.channel or "routed channels")
        console.print(f"Slack: messages to {channel}; {mode}")
    if config.escalations:
        names = ", ".join(policy.name for policy in config.escalations)
        pages = (
            f"; pages through {data_markup(config.pagerduty.events_url)}"
            if config.pagerduty is not None
            else ""
        )
        console.print(f"Escalation policies: {data_markup(names)}{pages}")
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
