"""The data, config and scan helpers that every engine's parity test shares: eight days of
events (amount, kind, score) whose last day drifts, gets a new category and null scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors

START = datetime(2025, 1, 1, tzinfo=UTC)
AT = START + timedelta(days=8)


def events_table() -> pa.Table:
    rng = np.random.default_rng(3)
    rows = 8 * 400
    times = [START + timedelta(minutes=3.6 * i) for i in range(rows)]
    drifted = np.array([t >= START + timedelta(days=7) for t in times])
    amount = rng.normal(100, 15, rows) + np.where(drifted, 20, 0)
    kind = np.where(
        drifted & (rng.random(rows) < 0.5), "refund", rng.choice(["card", "cash", "transfer"], rows)
    )
    score = rng.normal(0, 1, rows)
    score[drifted & (rng.random(rows) < 0.3)] = np.nan
    return pa.table(
        {
            "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
            "id": [f"e{i}" for i in range(rows)],
            "amount": amount,
            "kind": kind,
            "score": pa.array([None if np.isnan(v) else float(v) for v in score], pa.float64()),
        }
    )


def engine_config(store_url: str, dataset: dict) -> WardenConfig:
    reference = {"start": START.isoformat(), "end": (START + timedelta(days=7)).isoformat()}
    return WardenConfig.model_validate(
        {
            "store": {"url": store_url},
            "datasets": {"events": {**dataset, "time_column": "ts", "entity_column": "id"}},
            "monitors": [
                {
                    "name": "drift",
                    "kind": "drift",
                    "dataset": "events",
                    "reference": reference,
                    "window": "1d",
                },
                {
                    "name": "quality",
                    "kind": "quality",
                    "dataset": "events",
                    "reference": reference,
                    "window": "1d",
                },
                {
                    "name": "fresh",
                    "kind": "freshness",
                    "dataset": "events",
                    "max_lag": "1h",
                    "expected_every": "1d",
                },
            ],
        }
    )


def scan_all(config: WardenConfig, store) -> dict[str, dict]:
    sync_monitors(store, config)
    reports = {}
    for monitor in config.monitors:
        report = run_scan(config, monitor, AT, store)
        reports[monitor.name] = report.to_json_dict()
    return reports


def alerts(report: dict) -> list[tuple[str, str | None]]:
    return sorted((f["pattern"], f["column"]) for f in report["findings"] if f["alert"])
