"""`warden run` as a real process: scheduled ticks, the heartbeat, a clean SIGTERM exit."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import select

from daemon.runtime.scheduler import latest_fire_time
from daemon.store.engine import open_store
from daemon.store.models import ScanRun

WARDEN = Path(sys.executable).with_name("warden")


def _dataset(folder: Path) -> None:
    now = datetime.now(UTC)
    times = [now - timedelta(minutes=m) for m in range(120)]
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
                "x": [float(i) for i in range(120)],
            }
        ),
        folder / "events.parquet",
    )


def _migrated(database: Path) -> bool:
    """The daemon creates the file before its migration commits: wait for the tables."""
    if not database.exists():
        return False
    with closing(sqlite3.connect(database, timeout=10)) as connection:
        found = connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'scan_run'")
        return found.fetchone()[0] == 1


def test_daemon_scans_on_schedule_touches_heartbeat_and_stops_on_sigterm(tmp_path: Path):
    _dataset(tmp_path)
    (tmp_path / "warden.yaml").write_text(
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - {name: fresh, kind: freshness, dataset: events, max_lag: 1h, schedule: {every: 2s}}\n"
    )
    heartbeat = tmp_path / "state" / "heartbeat"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    process = subprocess.Popen(
        [str(WARDEN), "run", "--config", "warden.yaml", "--heartbeat-file", str(heartbeat)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        runs: list[ScanRun] = []
        while time.monotonic() < deadline and len(runs) < 3:
            time.sleep(1)
            if _migrated(tmp_path / "warden.db"):
                store = open_store(f"sqlite:///{tmp_path / 'warden.db'}", migrate=False)
                with store.session(readonly=True) as session:
                    runs = list(
                        session.exec(select(ScanRun).where(ScanRun.status != "running")).all()
                    )
                store.close()
        assert len(runs) >= 3, "the daemon did not complete three ticks within a minute"
        assert heartbeat.exists()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "running 1 monitor(s) and executing approved playbook runs" in " ".join(out.split())
    ticks = sorted(run.scheduled_for for run in runs)
    assert all(tick.second % 2 == 0 and tick.microsecond == 0 for tick in ticks), ticks
    assert len(set(ticks)) == len(ticks)
    assert {run.status for run in runs} == {"ok"}


def test_latest_fire_time_is_the_scheduled_tick_not_the_wall_clock():
    interval = IntervalTrigger(
        seconds=60, start_date=datetime(2000, 1, 1, tzinfo=UTC), timezone=UTC
    )
    now = datetime(2025, 1, 1, 12, 0, 7, 500000, tzinfo=UTC)
    assert latest_fire_time(interval, now, timedelta(seconds=30)) == datetime(
        2025, 1, 1, 12, 0, tzinfo=UTC
    )
    cron = CronTrigger.from_crontab("5 0 * * *", timezone=UTC)
    late = datetime(2025, 1, 2, 0, 5, 40, tzinfo=UTC)
    assert latest_fire_time(cron, late, timedelta(minutes=5)) == datetime(
        2025, 1, 2, 0, 5, tzinfo=UTC
    )
    assert latest_fire_time(cron, late + timedelta(hours=1), timedelta(minutes=5)) is None
