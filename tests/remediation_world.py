"""A dataset with a bad day and the scan-like steps that turn a finding into an incident
and a proposed run; shared by the approval and the Slack tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from daemon.config.models import MonitorConfig, WardenConfig
from daemon.incidents.incidents import IncidentPolicy, observe
from daemon.remediation.proposal_queue import plan_pending
from daemon.scan import ScanReport, run_scan
from daemon.store.engine import Store
from detectors.results import DetectorResult, Finding

DAY = datetime(2025, 3, 1, tzinfo=UTC)
NULLS = Finding("null_spike", "x", "binomial", 0.3, 0.05, True)


def write_data(folder: Path, days: int = 3) -> None:
    for day in range(days):
        start = DAY + timedelta(days=day)
        target = folder / f"date={start.date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        times = [start + timedelta(hours=h) for h in range(24)]
        pq.write_table(
            pa.table(
                {
                    "ts": pa.array(times, pa.timestamp("us", "UTC")),
                    "x": [float(h) for h in range(24)],
                }
            ),
            target,
        )


def detect(
    store: Store,
    config: WardenConfig,
    finding: Finding = NULLS,
    day: int = 1,
    later: timedelta = timedelta(0),
    monitor: str = "quality",
) -> list[int]:
    """Observe `finding` for the window of `day` (seen `later` after the window's end),
    then plan what it queued (what `warden scan` does); the new run ids."""
    start = DAY + timedelta(days=day)
    windows = {
        "current": {
            "dataset": "events",
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
        }
    }
    with store.session() as session:
        outcome = observe(
            session,
            monitor=monitor,
            dataset="events",
            severity="warning",
            result=DetectorResult.from_findings([finding]),
            windows=windows,
            at=start + timedelta(days=1) + later,
            policy=IncidentPolicy.from_config(config),
        )
    planned = plan_pending(store, config, identity="test-planner", incident_ids=outcome.routed)
    return [outcome.run_id for outcome in planned if outcome.run_id is not None]


def scan_then_plan(
    config: WardenConfig, monitor: MonitorConfig, at: datetime, store: Store
) -> ScanReport | None:
    """What `warden scan` does for one monitor: scan, then plan the proposals it queued."""
    report = run_scan(config, monitor, at, store)
    if report is not None:
        plan_pending(store, config, identity="test-planner", incident_ids=report.routed)
    return report
