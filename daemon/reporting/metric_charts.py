"""Charts of the metrics an incident is about, for its HTML report.

For each (column, metric) the incident's findings alerted on: the series' kept points from
six weeks before the detected window to two weeks after it (`daemon.store.metric_points`),
drawn as inline SVG with no script: the expected band as a shaded area (metric_anomaly
incidents), the values as a line, anomalous points as red dots. For other patterns the
chart is of the metric that shows the problem over time (`METRIC_OF_PATTERN`: a null
spike's null rate, a drifted column's mean...), when the monitor's scans kept it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from daemon.store.engine import Store
from daemon.store.models import Incident

WIDTH, HEIGHT, MARGIN = 640, 180, 36
BEFORE, AFTER = timedelta(weeks=6), timedelta(weeks=2)
#: Series charted per incident, at most (the rest are in the evidence table).
MAX_CHARTS = 8
#: The kept metric that shows a pattern's problem over time, for incidents of other
#: monitors than metric_anomaly.
METRIC_OF_PATTERN = {
    "null_spike": "null_rate",
    "feature_drift": "mean",
    "prediction_drift": "mean",
    "label_drift": "mean",
    "out_of_range": "max",
    "category_emergence": "distinct_count",
}


@dataclass(frozen=True)
class Series:
    column: str | None
    metric: str
    #: (window end, value, expected low, expected high, anomalous), oldest first.
    points: list[tuple[datetime, float | None, float | None, float | None, bool | None]]


def incident_series(store: Store, incident: Incident) -> list[Series]:
    """The kept series of the metrics `incident` alerted on (none for other patterns)."""
    from daemon.store.metric_points import load_points

    evidence = incident.evidence or {}
    wanted: list[tuple[str | None, str]] = []
    for finding in evidence.get("findings", []):
        details = finding.get("details") or {}
        if not finding.get("alert"):
            continue
        if finding.get("pattern") == "metric_anomaly":
            metric = details.get("metric")
        elif finding.get("column"):
            metric = METRIC_OF_PATTERN.get(str(finding.get("pattern")))
        else:
            metric = None
        key = (finding.get("column"), str(metric))
        if isinstance(metric, str) and key not in wanted:
            wanted.append(key)
    end_text = (evidence.get("windows") or {}).get("current", {}).get("end")
    if not wanted or not end_text:
        return []
    anchor = datetime.fromisoformat(end_text)
    charts = []
    with store.session(readonly=True) as session:
        for column, metric in wanted[:MAX_CHARTS]:
            points = load_points(
                session,
                incident.monitor,
                since=anchor - BEFORE,
                until=anchor + AFTER,
                column=column or "",
                metric=metric,
            )
            if len(points) < 2:
                continue  # nothing to draw (a monitor that keeps no such metric)
            charts.append(
                Series(
                    column,
                    metric,
                    [
                        (p.window_end, p.value, p.expected_low, p.expected_high, p.anomalous)
                        for p in points
                    ],
                )
            )
    return charts


def render_metric_charts(series: list[Series]) -> str:
    """The report section: one chart per series (empty text when there is none)."""
    if not series:
        return ""
    parts = ["<h2>Metric history</h2>"]
    for item in series:
        name = item.metric if item.column is None else f"{item.column} · {item.metric}"
        parts.append(f"<h3>{html.escape(name)}</h3>")
        parts.append(_chart(item))
    return "\n".join(parts)


def _chart(series: Series) -> str:
    values = [p for p in series.points if p[1] is not None]
    if len(values) < 2:
        return "<p class='muted'>Fewer than two points kept: no chart.</p>"
    times = [p[0].timestamp() for p in values]
    numbers: list[float] = []
    for _end, value, low, high, _flag in values:
        numbers.extend(v for v in (value, low, high) if v is not None)
    low_y, high_y = min(numbers), max(numbers)
    span_y = (high_y - low_y) or 1.0
    span_x = (times[-1] - times[0]) or 1.0

    def x(moment: float) -> float:
        return MARGIN + (moment - times[0]) / span_x * (WIDTH - 2 * MARGIN)

    def y(number: float) -> float:
        return HEIGHT - MARGIN + -(number - low_y) / span_y * (HEIGHT - 2 * MARGIN)

    banded = [p for p in values if p[2] is not None and p[3] is not None]
    band = ""
    if len(banded) >= 2:
        upper = [f"{x(p[0].timestamp()):.1f},{y(p[3]):.1f}" for p in banded]  # type: ignore[arg-type]
        lower = [f"{x(p[0].timestamp()):.1f},{y(p[2]):.1f}" for p in reversed(banded)]  # type: ignore[arg-type]
        band = f"<polygon points='{' '.join(upper + lower)}' fill='#d6eaf8' stroke='none'/>"
    line = " ".join(f"{x(t):.1f},{y(p[1]):.1f}" for t, p in zip(times, values, strict=True))  # type: ignore[arg-type]
    dots = "".join(
        f"<circle cx='{x(p[0].timestamp()):.1f}' cy='{y(p[1]):.1f}' r='4' fill='#b00020'>"  # type: ignore[arg-type]
        f"<title>{_label(p)}</title></circle>"
        for p in values
        if p[4]
    )
    axis = (
        f"<text x='{MARGIN}' y='{HEIGHT - 8}' font-size='11'>{values[0][0]:%Y-%m-%d}</text>"
        f"<text x='{WIDTH - MARGIN}' y='{HEIGHT - 8}' font-size='11' text-anchor='end'>"
        f"{values[-1][0]:%Y-%m-%d}</text>"
        f"<text x='2' y='{MARGIN - 6}' font-size='11'>{high_y:.4g}</text>"
        f"<text x='2' y='{HEIGHT - MARGIN + 12}' font-size='11'>{low_y:.4g}</text>"
    )
    return (
        f"<svg width='{WIDTH}' height='{HEIGHT}' role='img' "
        f"aria-label='the series with its expected band'>{band}"
        f"<polyline points='{line}' fill='none' stroke='#2c3e50' stroke-width='1.5'/>"
        f"{dots}{axis}</svg>"
        + (
            "<p class='muted'>Line: the measured value per window; shaded: the expected "
            "band; red: windows outside it.</p>"
            if band
            else "<p class='muted'>The value each scan of the monitor measured.</p>"
        )
    )


def _label(point: tuple[Any, ...]) -> str:
    end, value, low, high, _flag = point
    band = "" if low is None else f" (expected {low:.4g} .. {high:.4g})"
    return html.escape(f"{end:%Y-%m-%d %H:%M}: {value:.4g}{band}")
