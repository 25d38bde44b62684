"""`warden incidents show ID --html FILE`: one self-contained HTML page per incident.

Everything comes from the store (the incident, its evidence, its audit timeline), so the
report can be written after the data has changed or been quarantined. Reference and current
distributions of each affected column are inline SVG bar charts; there is no script and
nothing is fetched, so the file opens anywhere, offline, and can be attached to a ticket.
Every string that came from data or people (column names, categories, reasons) is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from daemon.reporting.metric_charts import Series, render_metric_charts
from daemon.reporting.queries import proposed_action
from daemon.store.models import AuditEvent, Incident

if TYPE_CHECKING:
    from daemon.lineage.impact import Impact

#: Chart size in CSS pixels; the bars stand on a baseline above the label row.
CHART_WIDTH, CHART_HEIGHT, LABEL_ROW = 640, 200, 20
#: Up to this many bars get their category written under them (more would overlap).
LABELLED_BARS = 12
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:980px;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}.alert{color:#b00020;font-weight:600}
.muted{color:#666}.status{padding:2px 8px;border-radius:4px;background:#eee}
.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}
code{font-size:12px;word-break:break-all}
"""
REFERENCE_COLOUR, CURRENT_COLOUR = "#7f8c8d", "#d35400"


def render_incident_html(
    incident: Incident,
    events: Sequence[AuditEvent],
    impact: Impact | None = None,
    series: Sequence[Series] = (),
) -> str:
    """The whole page for `incident`, with `events` (its audit timeline, oldest first),
    `impact` (the job runs that read its bad data, `daemon.lineage.impact`) and `series`
    (the kept history of the metrics it alerted on, `daemon.reporting.metric_charts`)."""
    evidence = incident.evidence or {}
    findings = evidence.get("findings", [])
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Incident #{incident.id}: {_e(incident.title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Incident #{incident.id}: {_e(incident.title)}</h1>",
        _facts(incident),
        _windows(evidence.get("windows", {})),
        "<h2>Evidence</h2>",
        _findings_table(findings),
        *(_distribution(finding) for finding in findings if _histogram(finding)),
        render_metric_charts(list(series)),
        _impact(impact) if impact is not None else "",
        "<h2>Timeline</h2>",
        _timeline(events),
        "<p class='muted'>Written by Warden from the incident store; every event above is in "
        "the hash-chained audit trail (<code>warden audit verify</code>).</p>",
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _impact(impact: Impact) -> str:
    runs = [*impact.runs, *({**r, "version": "unknown"} for r in impact.unknown_version_runs)]
    head = (
        f"<p>The detection read version <code>{_e(impact.detected_version or 'unknown')}"
        f"</code> of {_e(impact.dataset)}; versions holding the bad data: "
        f"<code>{_e(', '.join(impact.versions) or 'none recorded')}</code>"
        + (f" ({_e(impact.note)})" if impact.note else "")
        + ".</p>"
    )
    if not runs:
        return f"<h2>Data version and job runs</h2>{head}<p>No job run read them.</p>"
    rows = "".join(
        f"<tr><td>{_e(r['job_namespace'])}/{_e(r['job_name'])}</td><td><code>"
        f"{_e(r['run_id'])}</code></td><td>{_e(r['event_type'])}</td><td>"
        f"{_e(r['event_time'])}</td><td>{_e(r['version'])}</td></tr>"
        for r in runs
    )
    return (
        f"<h2>Data version and job runs</h2>{head}<table><tr><th>Job</th><th>Run</th>"
        f"<th>State</th><th>At</th><th>Version read</th></tr>{rows}</table>"
    )


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _facts(incident: Incident) -> str:
    rows = [
        ("Status", f"<span class='status'>{_e(incident.status)}</span>"),
        ("Severity", _e(incident.severity)),
        ("Monitor / dataset", f"{_e(incident.monitor)} / {_e(incident.dataset)}"),
        ("Pattern", _e(incident.pattern)),
        ("Scope", _e(json.dumps(incident.scope, sort_keys=True)) if incident.scope else "-"),
        ("First seen / last seen", f"{_e(incident.first_seen)} / {_e(incident.last_seen)}"),
        ("Occurrences", _e(incident.occurrences)),
        ("Proposed", _e(proposed_action(incident))),
    ]
    if incident.previous_incident_id:
        rows.append(("Reopens", f"incident #{incident.previous_incident_id}"))
    if incident.closed_reason:
        label = "Closed as a false alarm" if incident.false_alarm else "Closed"
        rows.append((label, _e(incident.closed_reason)))
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<table>{body}</table>"


def _windows(windows: dict[str, Any]) -> str:
    if not windows:
        return ""
    items = "".join(
        f"<li><b>{_e(name)}</b>: {_e(window.get('dataset'))} "
        f"[{_e(window.get('start'))}, {_e(window.get('end'))})</li>"
        for name, window in windows.items()
        if isinstance(window, dict)
    )
    return f"<h2>Windows compared</h2><ul>{items}</ul>"


def _findings_table(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<p class='muted'>No findings stored.</p>"
    header = "".join(
        f"<th>{name}</th>"
        for name in ("column", "method", "statistic", "threshold", "p-value", "alert")
    )
    rows = []
    for finding in findings:
        alert = finding.get("alert")
        rows.append(
            "<tr>"
            f"<td>{_e(finding.get('column') or '-')}</td><td>{_e(finding.get('method'))}</td>"
            f"<td>{_number(finding.get('statistic'))}</td>"
            f"<td>{_number(finding.get('threshold'))}</td>"
            f"<td>{_number(finding.get('p_value'))}</td>"
            f"<td class='{'alert' if alert else ''}'>{'yes' if alert else 'no'}</td></tr>"
        )
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _number(value: Any) -> str:
    return "-" if value is None else _e(f"{float(value):.4g}")


def _histogram(finding: dict[str, Any]) -> dict[str, Any] | None:
    histogram = (finding.get("details") or {}).get("histogram")
    if not isinstance(histogram, dict):
        return None
    reference, current = histogram.get("reference"), histogram.get("current")
    if not reference or not current or len(reference) != len(current):
        return None
    return histogram


def _distribution(finding: dict[str, Any]) -> str:
    """Side-by-side bars of the reference and current shares per bin or category."""
    histogram = _histogram(finding)
    assert histogram is not None
    reference = _shares(histogram["reference"])
    current = _shares(histogram["current"])
    labels = [str(label) for label in histogram.get("bins") or range(len(reference))]
    top = max(max(reference), max(current), 1e-12)
    slot = CHART_WIDTH / len(reference)
    bar = max(1.0, slot * 0.4)
    shapes = []
    for index, (ref_share, cur_share) in enumerate(zip(reference, current, strict=True)):
        x = index * slot + slot * 0.1
        for offset, share, colour, name in (
            (0.0, ref_share, REFERENCE_COLOUR, "reference"),
            (bar, cur_share, CURRENT_COLOUR, "current"),
        ):
            height = share / top * (CHART_HEIGHT - LABEL_ROW - 10)
            label = labels[index] if index < len(labels) else str(index)
            shapes.append(
                f"<rect x='{x + offset:.1f}' y='{CHART_HEIGHT - LABEL_ROW - height:.1f}' "
                f"width='{bar:.1f}' height='{height:.1f}' fill='{colour}'>"
                f"<title>{_e(label)}: {name} {share:.1%}</title></rect>"
            )
        if len(reference) <= LABELLED_BARS and index < len(labels):
            shapes.append(
                f"<text x='{x + bar:.1f}' y='{CHART_HEIGHT - 5}' font-size='11' "
                f"text-anchor='middle'>{_e(labels[index][:14])}</text>"
            )
    column = finding.get("column") or "-"
    return (
        f"<h2>{_e(column)}: reference vs current</h2>"
        f"<p><span class='swatch' style='background:{REFERENCE_COLOUR}'></span>reference"
        f"<span class='swatch' style='background:{CURRENT_COLOUR}'></span>current "
        f"<span class='muted'>(share of rows per {'bin' if len(labels) > 6 else 'value'}; "
        "hover a bar for its label)</span></p>"
        f"<svg role='img' aria-label='{_e(column)} distributions' width='{CHART_WIDTH}' "
        f"height='{CHART_HEIGHT}' viewBox='0 0 {CHART_WIDTH} {CHART_HEIGHT}'>"
        f"{''.join(shapes)}</svg>"
    )


def _shares(counts: list[Any]) -> list[float]:
    total = sum(float(count) for count in counts) or 1.0
    return [float(count) / total for count in counts]


def _timeline(events: Sequence[AuditEvent]) -> str:
    if not events:
        return "<p class='muted'>No events.</p>"
    rows = "".join(
        f"<tr><td>{_e(event.at.isoformat()[:19])}</td><td>{_e(event.actor)}</td>"
        f"<td>{_e(event.action)}</td>"
        f"<td><code>{_e(json.dumps(event.payload, sort_keys=True))}</code></td></tr>"
        for event in events
    )
    return (
        "<table><tr><th>recorded</th><th>actor</th><th>action</th><th>details</th></tr>"
        f"{rows}</table>"
    )
