"""Window metrics kept as time series (`daemon.store.metric_models.MetricPoint`).

Every scan that measured its window (drift, quality, metric_anomaly monitors) writes one
point per (column, metric) in the scan's transaction; a rescan of the same window replaces
them. `metric_anomaly` scans read their series' history back from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, func, select

from daemon.store.metric_models import MetricPoint

#: The metrics a drift or quality scan's window aggregates give, by `window_metrics` key.
PROFILE_METRICS = {"mean": "mean", "distinct": "distinct_count", "min": "min", "max": "max"}


@dataclass(frozen=True)
class PointValue:
    """One point of one series: `column` None for dataset-level metrics."""

    column: str | None
    metric: str
    window_start: datetime | None
    window_end: datetime
    value: float | None
    origin: str = "scan"
    anomalous: bool | None = None
    expected: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None


def points_from_metrics(
    metrics: Mapping[str, Any], window: Mapping[str, Any] | None
) -> list[PointValue]:
    """The points of a drift or quality scan's current window (`window_metrics`)."""
    if not metrics or not window or not window.get("end"):
        return []
    start = datetime.fromisoformat(window["start"]) if window.get("start") else None
    end = datetime.fromisoformat(window["end"])
    rows = metrics.get("rows")
    points = [PointValue(None, "row_count", start, end, _number(rows))]
    for name, values in (metrics.get("columns") or {}).items():
        count, nulls = values.get("count"), values.get("nulls")
        total = (count or 0) + (nulls or 0)
        points.append(
            PointValue(name, "null_rate", start, end, (nulls or 0) / total if total else None)
        )
        for key, metric in PROFILE_METRICS.items():
            if key in values:
                points.append(PointValue(name, metric, start, end, _number(values[key])))
    return points


def _column_text(name: str | None) -> str:
    """A column's name as its points store it: "" for dataset-level metrics, NUL shown as
    text, at most 200 characters (a longer name shares its first 200 with its points)."""
    return (name or "").replace("\x00", "\\u0000")[:200]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def record_points(
    session: Session,
    *,
    monitor: str,
    dataset: str,
    points: Iterable[PointValue],
    scan_run_id: int | None,
) -> int:
    """Write `points`, replacing those of the same series and window end; how many."""
    points = list(points)
    for end in {point.window_end for point in points}:
        series = {
            (_column_text(point.column), point.metric)
            for point in points
            if point.window_end == end
        }
        session.exec(  # type: ignore[call-overload]
            delete(MetricPoint).where(
                col(MetricPoint.monitor) == monitor,
                col(MetricPoint.window_end) == end,
                col(MetricPoint.metric).in_({metric for _column, metric in series}),
                col(MetricPoint.column_name).in_({column for column, _metric in series}),
            )
        )
    for point in points:
        session.add(
            MetricPoint(
                monitor=monitor,
                dataset=dataset,
                column_name=_column_text(point.column),
                metric=point.metric,
                window_start=point.window_start,
                window_end=point.window_end,
                value=_number(point.value),
                origin=point.origin,
                scan_run_id=scan_run_id if point.origin == "scan" else None,
                anomalous=point.anomalous,
                expected=_number(point.expected),
                expected_low=_number(point.expected_low),
                expected_high=_number(point.expected_high),
            )
        )
    return len(points)


def load_points(
    session: Session,
    monitor: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    column: str | None = None,
    metric: str | None = None,
) -> list[MetricPoint]:
    """A monitor's points with `since <= window_end < until`, oldest first (one indexed
    range query)."""
    query = select(MetricPoint).where(col(MetricPoint.monitor) == monitor)
    if since is not None:
        query = query.where(col(MetricPoint.window_end) >= since)
    if until is not None:
        query = query.where(col(MetricPoint.window_end) < until)
    if column is not None:
        query = query.where(col(MetricPoint.column_name) == column)
    if metric is not None:
        query = query.where(col(MetricPoint.metric) == metric)
    order = (col(MetricPoint.metric), col(MetricPoint.column_name), col(MetricPoint.window_end))
    return list(session.exec(query.order_by(*order)))


def latest_end(session: Session, monitor: str) -> datetime | None:
    """The end of the monitor's latest window with points, or None."""
    return session.exec(  # type: ignore[no-any-return]
        select(func.max(MetricPoint.window_end)).where(col(MetricPoint.monitor) == monitor)
    ).one()
