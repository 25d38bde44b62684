"""What `/readyz` checks: the store answers and accepts a write, the scheduler runs, Slack's
socket is up, the Slack inbox keeps up, and the daemon is not shutting down.

`/healthz` only says the process serves HTTP (restart it when that fails); `/readyz` says
whether it can do its work right now (stop sending it traffic, page someone). A store that
went away degrades readiness, and readiness comes back by itself when the store does.

- `store`: a read (`SELECT 1`), then a write rolled back (`daemon.slack.write_probe`): a
  store that answers but refuses writes (a read-only replica, a read-only SQLite file, a
  trigger) cannot record a decision, so it is not ready either.
- `slack_inbox` (when Slack's request URL or Socket Mode is on): the interaction processor
  is wedged when its last round stopped on a store write, or a spooled click has waited
  more than a minute (`daemon.slack.inbox.Inbox.problem`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from daemon.http.metrics import DaemonMetrics
from daemon.slack.write_probe import write_problem
from daemon.store.engine import Store

if TYPE_CHECKING:  # the CLI imports this module: the Slack inbox only when it runs
    from daemon.slack.inbox import Inbox


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


def readiness(
    store: Store, state: DaemonState, inbox: Inbox | None = None
) -> tuple[bool, dict[str, str]]:
    """(ready, check -> `ok` / what is wrong) for `/readyz`."""
    checks: dict[str, str] = {}
    try:
        with store.connect(readonly=True) as connection:
            connection.exec_driver_sql("SELECT 1")
        refused = write_problem(store)
        checks["store"] = "ok" if refused is None else f"refuses writes: {refused}"
    except (SQLAlchemyError, OSError) as error:
        checks["store"] = f"unreachable: {type(error).__name__}"
    if inbox is not None:
        checks["slack_inbox"] = inbox.problem() or "ok"
    running = state.scheduler_running()
    if running is not None:
        checks["scheduler"] = "ok" if running else "not running"
    connected = state.slack_connected()
    if connected is not None:
        checks["slack_socket"] = "ok" if connected else "disconnected (reconnecting)"
    if state.stopping():
        checks["lifecycle"] = "stopping (SIGTERM): finishing the work under way"
    return all(value == "ok" for value in checks.values()), checks
