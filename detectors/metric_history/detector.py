"""The `metric_anomaly` detector: each metric's new value against its seasonal band.

Input: the window's value of each series (a (column, metric) pair; column None for
`row_count`), each series' history of (window start, value) pairs, and the series' recent
verdicts (to tell a spike from a level shift). Output: one finding per series with a
verdict (pattern `metric_anomaly`, method `seasonal_median_mad`, statistic the observed
value, threshold the band edge on its side), and the band of every series for the store.

A series without enough history is listed in the summary's `insufficient`; when no series
has enough, the result is `insufficient_data` with the counts.

`shape` is `level_shift` when the series' two previous windows alerted in the same
direction too (a persistent change: the band adapts within about three of the season's
cycles), else `spike`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from detectors.metric_history.params import MetricAnomalyParams
from detectors.metric_history.seasonal import Band, NotEnoughHistory, seasonal_band
from detectors.results import DetectorResult, Finding

METHOD = "seasonal_median_mad"
#: Windows in a row alerting the same way that make a change a level shift.
SHIFT_RUN = 3

SeriesKey = tuple[str | None, str]


@dataclass(frozen=True)
class Verdict:
    """A stored point's verdict: when its window started, and its direction (+1 above the
    band, -1 below, 0 inside or unknown)."""

    start: datetime
    direction: int


@dataclass(frozen=True)
class MetricReport:
    """The result, and each series' band (None where history was short)."""

    result: DetectorResult
    bands: dict[SeriesKey, Band | None]


def detect_metric_anomalies(
    current: Mapping[SeriesKey, float | None],
    history: Mapping[SeriesKey, Sequence[tuple[datetime, float]]],
    recent: Mapping[SeriesKey, Sequence[Verdict]],
    window_start: datetime,
    params: MetricAnomalyParams,
) -> MetricReport:
    findings: list[Finding] = []
    insufficient: dict[str, str] = {}
    bands: dict[SeriesKey, Band | None] = {}
    excluded = [(item.start, item.end) for item in params.exclude]
    for key, value in current.items():
        column, metric = key
        label = metric if column is None else f"{column}.{metric}"
        if value is None or not math.isfinite(value):
            insufficient[label] = "no value in this window (empty, or every value null)"
            bands[key] = None
            continue
        try:
            band = seasonal_band(
                history.get(key, ()),
                window_start,
                metric,
                seasonality=params.seasonality,
                training=params.training,
                min_season_points=params.min_season_points,
                sensitivity=params.sensitivity,
                excluded=excluded,
            )
        except NotEnoughHistory as error:
            insufficient[label] = str(error)
            bands[key] = None
            continue
        bands[key] = band
        findings.append(_finding(column, metric, value, band, recent.get(key, ()), params))
    summary = {"insufficient": insufficient, "series": len(current)}
    if not findings:
        first = next(iter(insufficient.items()), ("", "no series"))
        return MetricReport(
            DetectorResult.insufficient(
                f"no metric has enough history yet ({first[0]}: {first[1]})", summary
            ),
            bands,
        )
    alerts = [f for f in findings if f.alert]
    message = (
        ", ".join(_describe(f) for f in alerts)
        if alerts
        else f"{len(findings)} metric(s) within their bands"
    )
    return MetricReport(
        DetectorResult.from_findings(findings, message=message, summary=summary), bands
    )


def _finding(
    column: str | None,
    metric: str,
    value: float,
    band: Band,
    recent: Sequence[Verdict],
    params: MetricAnomalyParams,
) -> Finding:
    z = band.z(value)
    alert = abs(z) > params.sensitivity
    direction = (1 if z > 0 else -1) if alert else 0
    previous = sorted(recent, key=lambda verdict: verdict.start)[-(SHIFT_RUN - 1) :]
    persistent = (
        alert
        and len(previous) == SHIFT_RUN - 1
        and all(verdict.direction == direction for verdict in previous)
    )
    return Finding(
        "metric_anomaly",
        column,
        METHOD,
        value,
        band.high if z >= 0 else band.low,
        alert,
        details={
            "metric": metric,
            "expected": band.expected,
            "band_low": band.low,
            "band_high": band.high,
            "z": z,
            "sensitivity": params.sensitivity,
            "season": band.season,
            "season_points": band.season_points,
            "training_points": band.training_points,
            "seasonality": params.seasonality,
            "shape": "level_shift" if persistent else "spike",
        },
    )


def _describe(finding: Finding) -> str:
    details = finding.details
    name = details["metric"] if finding.column is None else f"{finding.column}.{details['metric']}"
    return (
        f"{name} {finding.statistic:.4g} outside "
        f"[{details['band_low']:.4g}, {details['band_high']:.4g}] ({details['season']})"
    )
