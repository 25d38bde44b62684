"""The `metric_anomaly` evaluator: measure the window, read each series' history from the
store (measuring past windows no scan measured, in one query), judge every series against
its seasonal band (`detectors.metric_history`), and keep the new points with their bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from daemon.config.models import MetricAnomalyMonitor
from daemon.scan.evaluators import Evaluation, ScanContext, _columns, _open, evaluator
from daemon.scan.windows import current_window
from daemon.store.metric_models import MetricPoint
from daemon.store.metric_points import PointValue, load_points
from detectors.metric_history.detector import (
    MetricReport,
    SeriesKey,
    Verdict,
    detect_metric_anomalies,
)
from detectors.metric_history.params import MetricAnomalyParams
from detectors.metric_history.queries import bucket_metrics_query, bucket_values
from detectors.sources.base import DatasetSource

#: Most past windows measured in one scan when the store lacks them (a 28d training of
#: 1h windows is 672).
MAX_BACKFILL_WINDOWS = 2000


@evaluator("metric_anomaly")
def evaluate_metric_anomaly(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, MetricAnomalyMonitor)
    params = MetricAnomalyParams.model_validate(
        monitor.model_dump(include=set(MetricAnomalyParams.model_fields))
    )
    source = _open(context, monitor.dataset)
    current = current_window(monitor.dataset, context.at, monitor.window)
    assert current.start is not None and current.end is not None
    columns = _columns(source, monitor.columns)
    numeric = [name for name in columns if source.types[name].kind == "numeric"]
    categorical = [name for name in columns if name not in numeric]
    wanted = _series(params.metrics, numeric, categorical)
    windows_back = min(int(params.training / monitor.window), MAX_BACKFILL_WINDOWS)
    # One read of the store serves the history and the last verdicts (the last two windows).
    since = current.start - max(windows_back, 3) * monitor.window
    with context.store.session(readonly=True) as session:
        kept = load_points(session, monitor.name, since=since, until=current.end)
    now, history, backfilled = _measure_with_history(
        source,
        kept,
        wanted,
        monitor.window,
        current.start,
        current.end,
        windows_back,
        numeric,
        categorical,
    )
    recent = _recent_verdicts(kept, current.start, monitor.window, wanted)
    report = detect_metric_anomalies(
        {key: now.get(key) for key in wanted}, history, recent, current.start, params
    )
    points = list(backfilled)
    points.extend(_judged_points(wanted, now, report, current.start, current.end))
    result = report.result
    result.summary["backfilled_windows"] = len({point.window_start for point in backfilled})
    return Evaluation(
        result,
        {"current": current.to_dict()},
        metrics=_window_metrics(now, [*numeric, *categorical]),
        points=points,
    )


def _measure_with_history(
    source: DatasetSource,
    kept: list[MetricPoint],
    wanted: list[SeriesKey],
    window: timedelta,
    start: datetime,
    end: datetime,
    windows_back: int,
    numeric: list[str],
    categorical: list[str],
) -> tuple[
    dict[SeriesKey, float | None], dict[SeriesKey, list[tuple[datetime, float]]], list[PointValue]
]:
    """The current window's values, each series' history (stored points, and past windows
    no scan measured, measured now in the same query), and the points measured for them."""
    stored = _stored_history(kept, start - windows_back * window, wanted)
    missing = _missing_starts(stored, start, windows_back, window)
    # One query: the current window alone, or every window back to the oldest missing one.
    measured = _measure(source, min(missing, default=start), end, window, numeric, categorical)
    # An empty current window has no bucket: its row count is 0, its other metrics none.
    now = measured.get(start) or bucket_values({"n": 0}, numeric, categorical)
    # Empty windows before the first row the data holds (and before any stored point) are
    # from before the dataset began, not zeros to learn from; later empty windows are.
    began = min(
        [*(s for s in measured if s != start), *(s for v in stored.values() for s, _ in v)],
        default=start,
    )
    history = {key: list(values) for key, values in stored.items()}
    backfilled: list[PointValue] = []
    for past in (moment for moment in missing if moment >= began):
        values = measured.get(past) or bucket_values({"n": 0}, numeric, categorical)
        for key in wanted:
            value = values.get(key)
            if value is not None:
                history.setdefault(key, []).append((past, value))
            backfilled.append(PointValue(key[0], key[1], past, past + window, value, "backfill"))
    return now, history, backfilled


def _judged_points(
    wanted: list[SeriesKey],
    now: dict[SeriesKey, float | None],
    report: MetricReport,
    start: datetime,
    end: datetime,
) -> list[PointValue]:
    """The current window's points, with each series' band and verdict."""
    points = []
    findings = {(f.column, f.details["metric"]): f for f in report.result.findings}
    for key in wanted:
        band = report.bands.get(key)
        finding = findings.get(key)
        points.append(
            PointValue(
                key[0],
                key[1],
                start,
                end,
                now.get(key),
                anomalous=None if finding is None else finding.alert,
                expected=None if band is None else band.expected,
                expected_low=None if band is None else band.low,
                expected_high=None if band is None else band.high,
            )
        )
    return points


def _window_metrics(now: dict[SeriesKey, float | None], columns: list[str]) -> dict[str, Any]:
    """The window's aggregates in `window_metrics`' shape (what lineage events report)."""
    rows = int(now.get((None, "row_count")) or 0)
    described: dict[str, dict[str, float]] = {}
    for name in columns:
        values: dict[str, float] = {}
        rate = now.get((name, "null_rate"))
        if rate is not None:
            values["nulls"] = round(rate * rows)
            values["count"] = rows - values["nulls"]
        for metric, key in (("mean", "mean"), ("distinct_count", "distinct")):
            value = now.get((name, metric))
            if value is not None:
                values[key] = value
        described[name] = values
    return {"rows": rows, "columns": described}


def _series(
    metrics: Sequence[str], numeric: Sequence[str], categorical: Sequence[str]
) -> list[SeriesKey]:
    keys: list[SeriesKey] = []
    if "row_count" in metrics:
        keys.append((None, "row_count"))
    for name in [*numeric, *categorical]:
        if "null_rate" in metrics:
            keys.append((name, "null_rate"))
        if "mean" in metrics and name in numeric:
            keys.append((name, "mean"))
        if "distinct_count" in metrics and name in categorical:
            keys.append((name, "distinct_count"))
    return keys


def _stored_history(
    kept: list[MetricPoint], since: datetime, wanted: list[SeriesKey]
) -> dict[SeriesKey, list[tuple[datetime, float]]]:
    """(window start, value) of each wanted series' kept points ending from `since` on."""
    keys = set(wanted)
    history: dict[SeriesKey, list[tuple[datetime, float]]] = {}
    for point in kept:
        key = (point.column_name or None, point.metric)
        if (
            key in keys
            and point.window_end >= since
            and point.window_start is not None
            and point.value is not None
        ):
            history.setdefault(key, []).append((point.window_start, point.value))
    return history


def _missing_starts(
    stored: dict[SeriesKey, list[tuple[datetime, float]]],
    current_start: datetime,
    windows_back: int,
    window: timedelta,
) -> list[datetime]:
    """Starts of the past windows no stored point covers (within half a window)."""
    covered = sorted({start for values in stored.values() for start, _value in values})
    missing = []
    for index in range(1, windows_back + 1):
        start = current_start - index * window
        if not any(abs(start - seen) < window / 2 for seen in covered):
            missing.append(start)
    return missing


def _measure(
    source: DatasetSource,
    start: datetime,
    end: datetime,
    window: timedelta,
    numeric: list[str],
    categorical: list[str],
) -> dict[datetime, dict[SeriesKey, float | None]]:
    seconds = int(window.total_seconds())
    key = ("metric_buckets", seconds, tuple(numeric), tuple(categorical))
    result = source.window_query(
        key,
        # Built only when the query was never compiled: a kept plan needs no Ibis at all.
        lambda rows: bucket_metrics_query(
            rows, source.lower_bound_parameter(), source.time_column, seconds, numeric, categorical
        ),
        start,
        end,
    )
    measured = {}
    for row in result.rows:
        values = dict(zip(result.columns, row, strict=True))
        bucket = values.get("warden_bucket")
        if bucket is None:
            continue
        measured[start + int(bucket) * window] = bucket_values(values, numeric, categorical)
    return measured


def _recent_verdicts(
    kept: list[MetricPoint], before: datetime, window: timedelta, wanted: list[SeriesKey]
) -> dict[SeriesKey, list[Verdict]]:
    """The verdicts of each series' last two windows ending by `before` (+1 above its
    band, -1 below, 0 inside)."""
    keys = set(wanted)
    since = before - 2 * window - window / 2
    verdicts: dict[SeriesKey, list[Verdict]] = {}
    for point in kept:
        key = (point.column_name or None, point.metric)
        if (
            key not in keys
            or not since <= point.window_end <= before
            or point.window_start is None
            or point.anomalous is None
        ):
            continue
        direction = 0
        if point.anomalous and point.value is not None and point.expected is not None:
            direction = 1 if point.value > point.expected else -1
        verdicts.setdefault(key, []).append(Verdict(point.window_start, direction))
    return {key: sorted(items, key=lambda v: v.start)[-2:] for key, items in verdicts.items()}
