"""A dataset with a bad day and the scan-like steps that turn a finding into an incident
and a proposed run; shared by the approval and the Slack tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from daemon.config.models import WardenConfig
from daemon.incidents import IncidentPolicy, observe
from daemon.proposals import propose_for_incidents
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
    then propose (what a scan does)."""
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
    return propose_for_incidents(store, config, outcome.routed)
