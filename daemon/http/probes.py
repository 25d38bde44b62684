"""What `/readyz` checks: the store answers, the scheduler runs, Slack's socket is up, and
the daemon is not shutting down.

`/healthz` only says the process serves HTTP (restart it when that fails); `/readyz` says
whether it can do its work right now (stop sending it traffic, page someone). A store that
went away degrades readiness, and readiness comes back by itself when the store does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from daemon.http.metrics import DaemonMetrics
from daemon.store.engine import Store


def _unknown() -> bool | None:
    return None


@dataclass
class DaemonState:
    """Live facts about the running daemon that the HTTP server reports."""

    #: Whether the scheduler is running (None: no scheduler in this process).
    scheduler_running: Callable[[], bool | None] = _unknown
    #: Whether the Slack Socket Mode connection is up (None: Socket Mode is not used).
    slack_connected: Callable[[], bool | None] = _unknown
    #: Whether the daemon is shutting down (SIGTERM): not ready, so traffic goes elsewhere.
    stopping: Callable[[], bool] = lambda: False
    #: What is wrong with the process itself (the scheduler's loop stopped beating), else
    #: None: `/healthz` fails, so the orchestrator restarts it.
    stuck: Callable[[], str | None] = lambda: None
    metrics: DaemonMetrics | None = field(default=None)


def readiness(store: Store, state: DaemonState) -> tuple[bool, dict[str, str]]:
    """(ready, check -> `ok` / what is wrong) for `/readyz`."""
    checks: dict[str, str] = {}
    try:
        with store.connect(readonly=True) as connection:
            connection.exec_driver_sql("SELECT 1")
        checks["store"] = "ok"
    except (SQLAlchemyError, OSError) as error:
        checks["store"] = f"unreachable: {type(error).__name__}"
    running = state.scheduler_running()
    if running is not None:
        checks["scheduler"] = "ok" if running else "not running"
    connected = state.slack_connected()
    if connected is not None:
        checks["slack_socket"] = "ok" if connected else "disconnected (reconnecting)"
    if state.stopping():
        checks["lifecycle"] = "stopping (SIGTERM): finishing the work under way"
    return all(value == "ok" for value in checks.values()), checks
