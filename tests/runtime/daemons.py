"""Real `warden run` processes for the runtime tests: start, wait for the store, stop."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from daemon.store.engine import Store, open_store
from daemon.store.errors import StoreError
from daemon.store.models import AuditEvent, ScanRun

WARDEN = Path(sys.executable).with_name("warden")


def start_daemon(folder: Path, *args: str, log: str = "daemon.log") -> subprocess.Popen[str]:
    """`warden run` in `folder` (its warden.yaml), JSON logs to `folder/log`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    environment.update({"COLUMNS": "200", "NO_COLOR": "1"})
    return subprocess.Popen(
        [str(WARDEN), "run", "--config", "warden.yaml", "--log-format", "json", *args],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=open(folder / log, "a", encoding="utf-8"),
        text=True,
    )


def stop(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    """SIGTERM, then wait; returns (exit status, stdout)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=30)


def log_lines(folder: Path, log: str = "daemon.log") -> list[dict[str, Any]]:
    """The JSON log lines (every line must be one JSON object)."""
    text = (folder / log).read_text(encoding="utf-8") if (folder / log).exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, process: Any = None) -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except (SQLAlchemyError, StoreError, OSError, sqlite3.Error):  # store not made yet
            value = None
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the daemon exited ({process.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def scan_runs(url: str) -> list[ScanRun]:
    store = open_store(url, migrate=False)
    try:
        with store.session(readonly=True) as session:
            return list(session.exec(select(ScanRun).order_by(ScanRun.id)).all())
    finally:
        store.close()


def audit_actions(store: Store) -> list[str]:
    with store.session(readonly=True) as session:
        return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]
