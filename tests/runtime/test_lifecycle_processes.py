"""`warden run` as real processes on the real PostgreSQL: SIGTERM during a scan, a resumed
scan after a cut-short shutdown, one daemon per SQLite store, SIGKILL during a playbook run."""

from __future__ import annotations

import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlmodel import select

from daemon.store.engine import Store
from daemon.store.models import DaemonInstance, Incident
from tests.cli.conftest import run_warden
from tests.cli.test_runs_cli import CONFIG, _gone, _run_status, _workers, _write, reader_reached
from tests.runtime.daemons import (
    audit_actions,
    kill,
    log_lines,
    scan_runs,
    start_daemon,
    stop,
    wait_for,
)

#: Each query on the `slow_events` view sleeps this long, in seconds: scans take a while.
SLOW_QUERY_SECONDS = 4


def _slow_source(store: Store) -> str:
    """Fresh events in `events` and a view over them whose every query sleeps."""
    url = store.url.render_as_string(hide_password=False).replace("+psycopg", "")
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE events (ts timestamptz, x double precision)")
        with connection.cursor().copy("COPY events (ts, x) FROM STDIN") as copy:
            for minute in range(240):
                copy.write_row((now - timedelta(minutes=minute), float(minute)))
        connection.execute(
            "CREATE VIEW slow_events AS SELECT e.* FROM events e, "
            f"(SELECT pg_sleep({SLOW_QUERY_SECONDS})) AS pause"
        )
    return url


def _config(folder: Path, url: str, grace: str) -> None:
    (folder / "warden.yaml").write_text(
        f"store: {{url: '{url}'}}\n"
        "datasets:\n"
        f"  events: {{format: postgres, url: '{url}', table: slow_events, time_column: ts}}\n"
        "monitors:\n"
        "  - {name: fresh, kind: freshness, dataset: events, max_lag: 1h, schedule: {every: 5s}}\n"
        f"daemon: {{shutdown_grace: {grace}}}\n"
    )


def _running_scan(url: str) -> int:
    running = [s.id for s in scan_runs(url) if s.status == "running"]
    return running[0] if running else 0


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_sigterm_during_a_scan_lets_it_finish_and_exits_0(store: Store, tmp_path: Path):
    url = _slow_source(store)
    _config(tmp_path, url, grace="60s")
    daemon = start_daemon(tmp_path)
    try:
        scan_id = wait_for(lambda: _running_scan(url), 60, "a scan to start", daemon)
        signalled = time.monotonic()
        status, _ = stop(daemon)
    finally:
        kill(daemon)
    took = time.monotonic() - signalled
    assert status == 0, log_lines(tmp_path)
    runs = scan_runs(url)
    finished = [s for s in runs if s.id == scan_id]
    assert finished[0].status == "ok" and finished[0].finished_at is not None
    assert all(s.status != "running" for s in runs)  # nothing new started after SIGTERM
    assert took < 2 * SLOW_QUERY_SECONDS + 10
    with store.session(readonly=True) as session:
        (instance,) = session.exec(select(DaemonInstance)).all()
        assert instance.stop_reason == "shutdown" and instance.stopped_at is not None
    lines = log_lines(tmp_path)
    assert any(line["message"] == "stopped cleanly" for line in lines)
    scans = [line for line in lines if line["message"].startswith("fresh: scan at")]
    assert scans and all(line["monitor"] == "fresh" and "tick" in line for line in scans)
    assert all(line["identity"] == instance.identity for line in lines)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_scan_cut_off_by_the_grace_period_is_resumed_by_the_next_daemon(
    store: Store, tmp_path: Path
):
    url = _slow_source(store)
    _config(tmp_path, url, grace="1s")
    first = start_daemon(tmp_path)
    try:
        scan_id = wait_for(lambda: _running_scan(url), 60, "a scan to start", first)
        status, _ = stop(first, timeout=SLOW_QUERY_SECONDS - 1)  # out before the query ends
    finally:
        kill(first)
    assert status == 0
    (left,) = [s for s in scan_runs(url) if s.id == scan_id]
    assert left.status == "running"  # nothing half written: the result was never committed
    assert any("left for the next daemon" in line["message"] for line in log_lines(tmp_path))

    _config(tmp_path, url, grace="60s")
    second = start_daemon(tmp_path, log="second.log")
    try:
        wait_for(
            lambda: [s for s in scan_runs(url) if s.id == scan_id and s.status == "ok"],
            60,
            "the cut-off scan to be resumed",
            second,
        )
    finally:
        assert stop(second)[0] == 0
    (resumed,) = [s for s in scan_runs(url) if s.id == scan_id]
    assert resumed.claimed_by != left.claimed_by
    actions = audit_actions(store)
    assert actions.count("scan.taken_over") == 1
    ticks = [s.scheduled_for for s in scan_runs(url)]
    assert len(ticks) == len(set(ticks))


def test_a_second_daemon_on_one_sqlite_store_refuses_to_start(tmp_path: Path):
    (tmp_path / "warden.yaml").write_text(
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - {name: fresh, kind: freshness, dataset: events, max_lag: 1h, schedule: {every: 1h}}\n"
    )
    first = start_daemon(tmp_path)
    try:
        lock = tmp_path / "warden.db.daemon.lock"
        holder = wait_for(lambda: lock.exists() and lock.read_text().strip(), 60, "the lock", first)
        second = start_daemon(tmp_path, log="second.log")
        second.communicate(timeout=120)  # it exits by itself
        status = second.returncode
        err = (tmp_path / "second.log").read_text()
        assert status == 2
        assert "another warden daemon" in err and holder in err and "PostgreSQL" in err
        assert first.poll() is None  # the first one is undisturbed
        kill(first)  # SIGKILL: the OS drops the lock with the process
        third = start_daemon(tmp_path, log="third.log")
        wait_for(lambda: lock.read_text().strip() not in ("", holder), 60, "a new holder", third)
        assert stop(third)[0] == 0
    finally:
        kill(first)


def test_sigkill_during_a_playbook_run_then_a_restarted_daemon_finishes_it_once(tmp_path: Path):
    """The run's daemon is killed mid-apply; the restarted daemon recognises at once that the
    claimant's process is gone (same host, pid not running), without waiting for the run's
    heartbeat to age past `stale_run_after` (2 minutes here)."""
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG + "    schedule: {every: 1h}\n")
    assert run_warden("scan", "--at", "2025-03-09", cwd=tmp_path).code == 0
    assert run_warden("approve", "1", "--as", "alice", cwd=tmp_path).code == 0
    spiked = tmp_path / "data" / "date=2025-03-08" / "part-0.parquet"
    original = spiked.read_bytes()
    spiked.unlink()
    os.mkfifo(spiked)  # the move hangs on it, like a hung mount
    first = start_daemon(tmp_path)
    try:
        (child,) = wait_for(lambda: _workers(first.pid), 60, "the playbook worker", first)
        assert _run_status(tmp_path, 1) == "running"
        writer = reader_reached(spiked, first)  # the child hangs on the read: kill now
        kill(first)
    finally:
        kill(first)
    wait_for(lambda: _gone(child), 15, "the orphaned worker to exit")
    os.close(writer)
    assert _run_status(tmp_path, 1) == "running"
    spiked.unlink()
    spiked.write_bytes(original)

    second = start_daemon(tmp_path, log="second.log")
    try:
        wait_for(lambda: _run_status(tmp_path, 1) == "succeeded", 60, "the run to finish", second)
    finally:
        assert stop(second)[0] == 0
    log = run_warden("audit", "log", "--json", cwd=tmp_path).stdout
    assert log.count('"run.taken_over"') == 1 and log.count('"run.succeeded"') == 1
    assert log.count('"daemon.presumed_dead"') == 1
    assert run_warden("audit", "verify", cwd=tmp_path).code == 0
    quarantined = (tmp_path / "warden-work" / "quarantine").rglob("*.parquet")
    assert [p.read_bytes() for p in quarantined] == [original] and not spiked.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_ticks_skipped_behind_a_slow_scan_open_a_missed_ticks_incident(
    store: Store, tmp_path: Path
):
    """Every second a tick comes while the previous scan (two slow queries) still runs:
    APScheduler skips it (`max_instances=1`), and the third skip in a row opens the
    incident."""
    url = _slow_source(store)
    (tmp_path / "warden.yaml").write_text(
        f"store: {{url: '{url}'}}\n"
        "datasets:\n"
        f"  events: {{format: postgres, url: '{url}', table: slow_events, time_column: ts}}\n"
        "monitors:\n"
        "  - {name: fresh, kind: freshness, dataset: events, max_lag: 1h, schedule: {every: 1s}}\n"
        "daemon: {missed_ticks_alert: 3}\n"
    )
    port = _free_port()
    daemon = start_daemon(tmp_path, "--http-port", str(port))
    try:
        incident = wait_for(
            lambda: _missed_ticks_incident(store), 60, "a missed_ticks incident", daemon
        )
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        (counted,) = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith(
                'warden_scheduler_missed_ticks_total{monitor="fresh",reason="still_running"}'
            )
        ]
        assert counted >= 3
    finally:
        assert stop(daemon)[0] == 0
    assert (incident.pattern, incident.status, incident.dataset) == (
        "missed_ticks",
        "open",
        "events",
    )
    (finding,) = incident.evidence["findings"]
    assert finding["details"]["reason"] == "still_running" and finding["statistic"] >= 3
    skipped = [line for line in log_lines(tmp_path) if line.get("reason") == "still_running"]
    assert len(skipped) >= 3 and all(line["monitor"] == "fresh" for line in skipped)


def _missed_ticks_incident(store: Store) -> Incident | None:
    with store.session(readonly=True) as session:
        return session.exec(select(Incident).where(Incident.monitor == "scheduler/fresh")).first()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
