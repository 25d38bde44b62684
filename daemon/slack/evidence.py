"""The evidence part of an incident message: the most significant alerting findings.

Findings are shown as stored in the incident's evidence (`pattern`, `column`, `method`,
`statistic`, `threshold`, `p_value`, `alert`, `details`), in an aligned code block: column,
method, the statistic beside the threshold it was compared with, and the p-value. The order
is by p-value, smallest first (the strongest evidence after multiple-testing correction),
then findings without one (freshness, quality) in the detector's order; at most
`EVIDENCE_ROWS` are shown and the rest are counted, since `warden incidents show` lists all.
New categories of a `category_emergence` finding are listed under the table, escaped like
every value from the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from daemon.slack.mrkdwn import clip, clip_plain, escape, inline_code, table_block
from daemon.slack.mrkdwn import number as format_number
from daemon.slack.mrkdwn import p_value as format_p_value

EVIDENCE_ROWS = 5
#: Cell widths, so that one long column name cannot push the numbers off a phone screen.
_COLUMN_WIDTH = 32
_METHOD_WIDTH = 20
_NOTE_LENGTH = 600


def evidence_text(findings: Iterable[Mapping[str, Any]], incident_id: int, *, limit: int) -> str:
    """The evidence section's `mrkdwn`, at most `limit` characters.

    >>> print(evidence_text([{"column": "age", "method": "ks", "statistic": 0.31,
    ...     "threshold": 0.05, "p_value": 2e-9, "alert": True}], 12, limit=3000))
    *Evidence*
    ```
    column  method  statistic  threshold  p-value
    age     ks      0.31       0.05       2e-09
    ```
    """
    alerting = [finding for finding in findings if finding.get("alert", True)]
    if not alerting:
        return "*Evidence*: no alerting findings were recorded."
    shown = sorted(alerting, key=_significance)[:EVIDENCE_ROWS]
    heading = "*Evidence*"
    if len(alerting) > len(shown):
        heading += (
            f": the {len(shown)} most significant of {len(alerting)} alerting findings "
            f"(all: {inline_code(f'warden incidents show {incident_id}')})"
        )
    rows = [
        (
            clip_plain(_subject(finding), _COLUMN_WIDTH),
            clip_plain(finding.get("method") or "-", _METHOD_WIDTH),
            format_number(finding.get("statistic")),
            format_number(finding.get("threshold")),
            format_p_value(finding.get("p_value")),
        )
        for finding in shown
    ]
    table = table_block(("column", "method", "statistic", "threshold", "p-value"), rows)
    notes = [note for note in map(_note, shown) if note]
    return clip("\n".join([heading, table, *notes]), limit)


def _significance(finding: Mapping[str, Any]) -> tuple[bool, float]:
    """Sort key: findings with a p-value first, smallest first; the sort keeps stored order
    among equals."""
    p_value = finding.get("p_value")
    return (p_value is None, 0.0 if p_value is None else float(p_value))


def _subject(finding: Mapping[str, Any]) -> str:
    """What a finding is about: its column, a metric anomaly's column and metric."""
    column = finding.get("column")
    metric = (finding.get("details") or {}).get("metric")
    if finding.get("pattern") == "metric_anomaly" and metric:
        return f"{column}.{metric}" if column else str(metric)
    return str(column or "-")


def _note(finding: Mapping[str, Any]) -> str | None:
    pattern = finding.get("pattern")
    if pattern == "metric_anomaly":
        return _band_note(finding)
    if pattern == "multivariate_drift":
        return _relations_note(finding)
    return _category_note(finding)


def _band_note(finding: Mapping[str, Any]) -> str | None:
    """A metric anomaly's value beside its expected band and season."""
    details = finding.get("details") or {}
    if details.get("band_low") is None:
        return None
    shape = " (persistent: a level shift)" if details.get("shape") == "level_shift" else ""
    text = (
        f"{_subject(finding)}: {format_number(finding.get('statistic'))} outside the expected "
        f"{format_number(details.get('band_low'))} .. {format_number(details.get('band_high'))}"
        f" for {details.get('season', 'this window')}{shape}"
    )
    return clip(escape(clip_plain(text, _NOTE_LENGTH)), _NOTE_LENGTH)


def _relations_note(finding: Mapping[str, Any]) -> str | None:
    """The columns a multivariate finding names as most changed."""
    details = finding.get("details") or {}
    named = details.get("top_contributors") or details.get("top_features") or []
    columns = [str(item.get("column")) for item in named if isinstance(item, Mapping)]
    if not columns:
        return None
    listed = ", ".join(clip_plain(column, 60) for column in columns)
    return clip(f"Relations between columns changed; most involved: {escape(listed)}", _NOTE_LENGTH)


def _category_note(finding: Mapping[str, Any]) -> str | None:
    """The categories a `category_emergence` finding saw for the first time."""
    details = finding.get("details") or {}
    new: Mapping[str, Any] = details.get("new_categories") or {}
    if finding.get("pattern") != "category_emergence" or not new:
        return None
    listed = ", ".join(f"{clip_plain(name, 60)} ({count} rows)" for name, count in new.items())
    total = int(details.get("new_category_count", len(new)))
    more = f"; {total - len(new)} more" if total > len(new) else ""
    column = clip_plain(finding.get("column") or "-", _COLUMN_WIDTH)
    return clip(f"New categories in {escape(column)}: {escape(listed)}{more}", _NOTE_LENGTH)
