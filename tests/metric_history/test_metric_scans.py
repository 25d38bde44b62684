"""`metric_anomaly` monitors scanned as the daemon scans them: history measured on the
first scan and kept, a spike on a weekday opens one notify-only incident, every scan's
points are kept (drift and quality monitors' too), a rescan replaces its window's points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from daemon.store.metric_points import load_points
from daemon.store.models import Incident

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
DAY = timedelta(days=1)
#: Rows per weekday (Monday first): weekends are half as busy.
ROWS = [400, 410, 390, 405, 395, 200, 220]
SPIKE_DAY = 43  # a Tuesday


def _events(days: int = 60, spike: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    parts = []
    for day in range(days):
        n = int(ROWS[day % 7] * (1 + 0.03 * rng.normal()))
        if spike and day == SPIKE_DAY:
            n *= 2
        start = MONDAY + day * DAY
        times = start + pd.to_timedelta(np.sort(rng.uniform(0, 86_400, n)), unit="s")
        amount = rng.normal(100, 10, n)
        amount[rng.random(n) < 0.02] = np.nan
        parts.append(
            pd.DataFrame({"ts": times, "amount": amount, "kind": rng.choice(["a", "b", "c"], n)})
        )
    return pd.concat(parts, ignore_index=True)


def _config(store_url: str, path: Path, **monitor: object) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "store": {"url": store_url},
            "datasets": {"events": {"format": "parquet", "path": str(path), "time_column": "ts"}},
            "monitors": [
                {
                    "name": "events-metrics",
                    "kind": "metric_anomaly",
                    "dataset": "events",
                    "window": "1d",
                    "metrics": ["row_count", "null_rate", "mean", "distinct_count"],
                    "seasonality": "day_of_week",
                    "training": "28d",
                    "sensitivity": 3.0,
                    **monitor,
                }
            ],
        }
    )


def _scan(store, config: WardenConfig, day: int) -> dict:
    report = run_scan(config, config.monitors[0], MONDAY + day * DAY, store)
    assert report is not None
    return report.to_json_dict()


@pytest.fixture
def config(store, tmp_path: Path) -> WardenConfig:
    path = tmp_path / "events.parquet"
    _events().to_parquet(path)
    config = _config(store.url.render_as_string(hide_password=False), path)
    sync_monitors(store, config)
    return config


def test_the_first_scan_measures_its_history_and_later_scans_read_it(store, config):
    first = _scan(store, config, 36)  # judges day 35, a Monday
    assert first["status"] == "ok", first["message"]
    assert first["summary"]["backfilled_windows"] == 28
    row_count = next(f for f in first["findings"] if f["details"]["metric"] == "row_count")
    assert row_count["column"] is None and row_count["method"] == "seasonal_median_mad"
    assert row_count["details"]["season"] == "Monday"
    assert row_count["details"]["season_points"] == 4
    assert {(f["column"], f["details"]["metric"]) for f in first["findings"]} == {
        (None, "row_count"),
        ("amount", "null_rate"),
        ("amount", "mean"),
        ("kind", "null_rate"),
        ("kind", "distinct_count"),
    }
    second = _scan(store, config, 37)
    assert second["summary"]["backfilled_windows"] == 0
    with store.session(readonly=True) as session:
        points = load_points(session, "events-metrics", metric="row_count")
    assert len(points) == 30  # 28 measured for history, then two scans
    assert [p.origin for p in points].count("backfill") == 28
    judged = points[-1]
    assert judged.origin == "scan" and judged.anomalous is False
    assert judged.expected_low < judged.value < judged.expected_high


def test_a_spike_on_a_tuesday_opens_one_notify_only_incident(store, config):
    for day in range(40, SPIKE_DAY + 1):
        assert _scan(store, config, day)["status"] == "ok"
    spike = _scan(store, config, SPIKE_DAY + 1)
    assert spike["status"] == "alert"
    alerts = [f for f in spike["findings"] if f["alert"]]
    assert [(f["column"], f["details"]["metric"]) for f in alerts] == [(None, "row_count")]
    (finding,) = alerts
    assert finding["details"]["season"] == "Tuesday"
    assert finding["statistic"] > finding["threshold"] == finding["details"]["band_high"]
    assert finding["details"]["shape"] == "spike"
    with store.session(readonly=True) as session:
        incident = session.exec(select(Incident)).one()
        assert incident.pattern == "metric_anomaly"
        assert incident.route["playbook"] is None
    # The day after is normal again; the spike stays in history and poisons nothing.
    after = _scan(store, config, SPIKE_DAY + 2)
    assert after["status"] == "ok"
    # The report charts the series: the band, the values, the anomalous window in red.
    from daemon.reporting.html_report import render_incident_html
    from daemon.reporting.metric_charts import incident_series

    (series,) = incident_series(store, incident)
    assert (series.column, series.metric) == (None, "row_count")
    assert [p[4] for p in series.points].count(True) == 1
    assert len(series.points) == 28 + 6  # measured history, and the six scans
    page = render_incident_html(incident, [], None, [series])
    assert "<h2>Metric history</h2>" in page and "<polygon" in page
    assert page.count("fill='#b00020'") == 1 and "2025-02-19 00:00" in page


def test_a_rescan_replaces_its_points_and_drift_scans_keep_theirs(store, config, tmp_path):
    _scan(store, config, 40)
    _scan(store, config, 40)
    with store.session(readonly=True) as session:
        points = load_points(session, "events-metrics", metric="row_count")
    assert len(points) == 29
    drift = WardenConfig.model_validate(
        {
            **config.model_dump(mode="json", exclude={"monitors"}),
            "monitors": [
                {
                    "name": "events-drift",
                    "kind": "drift",
                    "dataset": "events",
                    "reference": {"start": "2025-01-06", "end": "2025-01-12"},
                    "window": "1d",
                }
            ],
        }
    )
    sync_monitors(store, drift)
    assert run_scan(drift, drift.monitors[0], MONDAY + 40 * DAY, store) is not None
    with store.session(readonly=True) as session:
        kept = load_points(session, "events-drift")
    metrics = {(p.column_name, p.metric) for p in kept}
    assert ("", "row_count") in metrics and ("amount", "mean") in metrics
    assert ("kind", "distinct_count") in metrics and ("amount", "null_rate") in metrics


def test_too_little_history_is_insufficient_data_with_the_counts(store, tmp_path):
    path = tmp_path / "events.parquet"
    _events(days=10, spike=False).to_parquet(path)
    config = _config(store.url.render_as_string(hide_password=False), path)
    sync_monitors(store, config)
    report = _scan(store, config, 10)
    assert report["status"] == "insufficient_data"
    assert "of 3 training points for" in report["message"]


def test_the_config_refuses_windows_that_do_not_fit_the_seasonality(tmp_path):
    with pytest.raises(ValidationError, match="compares hours"):
        _config("sqlite://", tmp_path, seasonality="hour_of_day")
    with pytest.raises(ValidationError, match="fewer than 3 cycles"):
        _config("sqlite://", tmp_path, training="14d")
    with pytest.raises(ValidationError, match="row_count"):
        _config("sqlite://", tmp_path, metrics=["rows"])


# The CLI reads the same store whichever backend (the store suites cover both): SQLite.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_metrics_show_prints_json_lines_csv_and_a_table(store, config, tmp_path):
    import csv
    import io
    import json

    from tests.cli.conftest import run_warden

    for day in (36, SPIKE_DAY + 1):
        _scan(store, config, day)
    url = store.url.render_as_string(hide_password=False)
    path = config.datasets["events"].path
    (tmp_path / "warden.yaml").write_text(
        f"store: {{url: '{url}'}}\n"
        f"datasets:\n  events: {{format: parquet, path: '{path}', time_column: ts}}\n"
        "monitors:\n  - {name: events-metrics, kind: metric_anomaly, dataset: events, "
        "window: 1d, seasonality: day_of_week}\n"
    )
    shown = run_warden(
        "metrics", "show", "events-metrics", "--metric", "row_count", "--json", cwd=tmp_path
    )
    assert shown.code == 0, shown.stderr
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    # The 28 days before the latest point: days 16..43 ended inside them.
    assert all(line["metric"] == "row_count" and line["column"] is None for line in lines)
    spike = lines[-1]
    assert spike["window_end"].startswith("2025-02-19") and spike["anomalous"] is True
    assert spike["value"] > spike["expected_high"]
    assert list(spike) == [
        "monitor",
        "column",
        "metric",
        "window_start",
        "window_end",
        "value",
        "expected",
        "expected_low",
        "expected_high",
        "anomalous",
        "origin",
        "scan_run_id",
    ]
    as_csv = run_warden(
        "metrics",
        "show",
        "events-metrics",
        "--column",
        "amount",
        "--csv",
        "--since",
        "2025-02-10",
        cwd=tmp_path,
    )
    assert as_csv.code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {row["metric"] for row in rows} == {"null_rate", "mean"}
    assert all(row["window_end"] >= "2025-02-10" for row in rows)
    table = run_warden("metrics", "show", "events-metrics", cwd=tmp_path)
    assert table.code == 0 and "anomalous" in table.stdout
    unknown = run_warden("metrics", "show", "nope", cwd=tmp_path)
    assert unknown.code == 2 and "no monitor 'nope'" in unknown.stderr
    both = run_warden("metrics", "show", "events-metrics", "--json", "--csv", cwd=tmp_path)
    assert both.code == 2 and "choose one of --json and --csv" in both.stderr


def test_an_empty_window_is_a_row_count_of_zero_not_a_missing_value(store, config):
    # The data ends after day 59: the window of day 60 holds no row.
    report = _scan(store, config, 61)
    assert report["status"] == "alert"
    (finding,) = [f for f in report["findings"] if f["alert"]]
    assert (finding["column"], finding["details"]["metric"]) == (None, "row_count")
    assert finding["statistic"] == 0 and finding["threshold"] == finding["details"]["band_low"]
    assert "amount.mean" in report["summary"]["insufficient"]


def test_a_drift_incident_report_charts_the_drifted_columns_mean(store, tmp_path):
    from daemon.reporting.html_report import render_incident_html
    from daemon.reporting.metric_charts import incident_series

    frame = _events(spike=False)
    frame.loc[frame["ts"] >= MONDAY + 45 * DAY, "amount"] += 30
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    config = WardenConfig.model_validate(
        {
            "store": {"url": store.url.render_as_string(hide_password=False)},
            "datasets": {"events": {"format": "parquet", "path": str(path), "time_column": "ts"}},
            "monitors": [
                {
                    "name": "events-drift",
                    "kind": "drift",
                    "dataset": "events",
                    "reference": {"start": "2025-01-06", "end": "2025-01-12"},
                    "window": "1d",
                    "columns": ["amount"],
                }
            ],
        }
    )
    sync_monitors(store, config)
    for day in range(40, 47):
        report = run_scan(config, config.monitors[0], MONDAY + day * DAY, store)
        assert report is not None
    with store.session(readonly=True) as session:
        incident = session.exec(select(Incident)).one()
    assert incident.pattern == "feature_drift"
    (series,) = incident_series(store, incident)
    assert (series.column, series.metric) == ("amount", "mean")
    values = [point[1] for point in series.points]
    assert len(values) == 7 and values[-1] > values[0] + 25
    page = render_incident_html(incident, [], None, [series])
    assert "<polyline" in page and "<polygon" not in page
    assert "The value each scan of the monitor measured." in page
