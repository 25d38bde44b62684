"""Helpers of the version tests: a config around some datasets, one scan's JSON report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from daemon.store.engine import Store


def config_for(store: Store, datasets: dict[str, Any], monitors: list[Any]) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "store": {"url": store.url.render_as_string(hide_password=False)},
            "datasets": datasets,
            "monitors": monitors,
        }
    )


def scan(config: WardenConfig, store: Store, at: datetime, monitor: int = 0) -> dict[str, Any]:
    """One monitor scanned at `at`, as `warden scan --json` prints it."""
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[monitor], at, store)
    assert report is not None
    return report.to_json_dict()


def drift_monitor(dataset: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": f"{dataset}-drift",
        "kind": "drift",
        "dataset": dataset,
        "reference": {"start": "2025-01-01", "end": "2025-01-03"},
        "window": "1d",
        "columns": ["x"],
        **overrides,
    }
