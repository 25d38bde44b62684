"""`warden incidents show`: one incident, its evidence, the data it is about (the version
read and the job runs that read the bad data) and its timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    check_one_output,
    console,
    err_console,
    load,
    print_csv,
    print_json_lines,
    store_for,
    styled_status,
)
from daemon.cli.lineage_commands import print_impact
from daemon.cli.safe_text import data_markup, data_text


def register(app: typer.Typer) -> None:
    """Add `show` to the `incidents` commands."""
    app.command("show")(show_command)


def show_command(
    incident_id: Annotated[
        int, typer.Argument(metavar="ID", help="Incident id (from `warden incidents list`).")
    ],
    config: ConfigOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print the timeline as CSV (one row per event).")
    ] = False,
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Also write a self-contained HTML report (charts of reference vs current).",
        ),
    ] = None,
) -> None:
    """Show one incident: evidence, the windows compared, the proposal and the timeline."""
    from daemon.lineage.impact import impact_of
    from daemon.reporting.html_report import render_incident_html
    from daemon.reporting.metric_charts import incident_series
    from daemon.reporting.queries import get_incident, incident_row

    check_one_output(as_json=as_json, as_csv=as_csv)
    loaded = load(config)
    store = store_for(loaded)
    try:
        incident, events = get_incident(store, incident_id)
        impact = impact_of(store, loaded, incident_id) if incident is not None else None
        series = incident_series(store, incident) if incident is not None else []
    finally:
        store.close()
    if incident is None or impact is None:
        raise UsageProblem(f"there is no incident {incident_id}; see `warden incidents list`")
    if html_file is not None:
        _write_html(html_file, render_incident_html(incident, events, impact, series))
    row = incident_row(incident)
    # `at` is when it was recorded; `scan_time` the moment the scan evaluated
    # (differs for --at replays).
    timeline = [
        {
            "at": e.at.isoformat(),
            "scan_time": e.payload.get("at"),
            "actor": e.actor,
            "action": e.action,
            "payload": e.payload,
        }
        for e in events
    ]
    if as_json:
        print_json_lines(
            [
                {
                    **row,
                    "evidence": incident.evidence,
                    "timeline": timeline,
                    "impact": impact.to_dict(),
                }
            ]
        )
        return
    if as_csv:
        print_csv([{"incident": incident.id, **item} for item in timeline])
        return
    console.print(
        f"[bold]Incident #{incident.id}[/] {styled_status(incident.status)}  "
        f"{data_markup(incident.title)}"
    )
    console.print(
        f"monitor {data_markup(incident.monitor)} · severity {data_markup(incident.severity)} · "
        f"seen {incident.occurrences}x · "
        f"first {row['first_seen']} · last {row['last_seen']}"
    )
    if incident.previous_incident_id:
        console.print(f"reopens incident #{incident.previous_incident_id}")
    if incident.group_id is not None:
        console.print(f"group {incident.group_id} (its message, escalation and page)")
    windows = incident.evidence.get("windows", {})
    for name, window in windows.items():
        console.print(
            f"{data_markup(name)} window: {data_markup(window.get('dataset'))} "
            f"\\[{data_markup(window.get('start'))}, {data_markup(window.get('end'))})"
        )
    evidence = Table(title="Evidence")
    for header in ("column", "method", "statistic", "threshold", "p-value"):
        evidence.add_column(header)
    for finding in incident.evidence.get("findings", []):
        evidence.add_row(
            data_markup(finding.get("column")) or "-",
            data_markup(finding["method"]),
            _number(finding.get("statistic")),
            _number(finding.get("threshold")),
            _p_value(finding.get("p_value")),
        )
    console.print(evidence)
    for finding in incident.evidence.get("findings", []):
        note = _finding_note(finding)
        if note:
            console.print(data_text(note), highlight=False, markup=False)
    print_impact(impact)
    console.print(f"Proposed: [bold]{data_markup(row['proposed_action'])}[/]")
    if incident.closed_reason:
        label = "false alarm" if incident.false_alarm else "closed"
        console.print(f"{label}: {data_markup(incident.closed_reason)}")
    console.print("[bold]Timeline[/]")
    for item in timeline:
        moment = str(item["scan_time"] or item["at"])
        console.print(
            data_text(
                f"  {moment[:16].replace('T', ' ')}  {item['actor']:<10} {item['action']}  "
                f"{_payload_summary(str(item['action']), item['payload'])}"  # type: ignore[arg-type]
            ),
            highlight=False,
            markup=False,
        )


def _write_html(target: Path, page: str) -> None:
    """Write the page beside its final name, then rename: a crash leaves no half file."""
    if target.is_dir():
        raise UsageProblem(f"--html {target}: is a folder; give a file name like report.html")
    partial = target.with_name(target.name + ".partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(target)
    except OSError as error:
        raise UsageProblem(f"--html {target}: cannot write it: {error.strerror}") from None
    err_console.print(f"Wrote {data_markup(target)} ({len(page.encode()) // 1024 + 1} KB).")


#: The payload keys a timeline line shows, by action; a routing decision shows all four even
#: when empty (`channel=-`), as "no channel" is part of the decision.
_TIMELINE_KEYS: dict[str, tuple[str, ...]] = {
    "incident.routed": ("rule", "playbook", "approval", "channel"),
    "incident.silenced": ("by",),
    "proposal.failed": ("attempt", "error", "retry_at"),
    "proposal.taken_over": ("from",),
    "escalation.step_fired": ("policy", "step", "action", "channel", "mention"),
    "escalation.notify_failed": ("channel", "detail"),
    "page.refused": ("event", "detail"),
    "page.failed": ("event", "detail"),
    "group.opened": ("policy", "channel"),
    "group.joined": ("incident",),
}
_DEFAULT_TIMELINE_KEYS = ("occurrences", "columns", "scope", "reason", "false_alarm")


def _payload_summary(action: str, payload: dict[str, object]) -> str:
    """The details of one timeline event as `key=value` pairs."""
    keys = _TIMELINE_KEYS.get(action)
    if keys is not None:
        return " ".join(f"{key}={_plain(payload.get(key)) or '-'}" for key in keys)
    return " ".join(
        f"{key}={_plain(payload[key])}" for key in _DEFAULT_TIMELINE_KEYS if payload.get(key)
    )


def _plain(value: object) -> str:
    """A payload value as a person writes it: lists comma-separated, mappings as key:value."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(_plain(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}:{_plain(item)}" for key, item in value.items())
    return str(value)


def _finding_note(finding: dict[str, Any]) -> str | None:
    """A line under the evidence table for findings whose numbers do not say it all: the
    categories a `category_emergence` finding saw for the first time."""
    details = finding.get("details") or {}
    if finding.get("pattern") != "category_emergence" or not details.get("new_categories"):
        return None
    counts: dict[str, int] = details["new_categories"]
    listed = ", ".join(f"{name} ({count} rows)" for name, count in counts.items())
    total = details.get("new_category_count", len(counts))
    more = f"; {total - len(counts)} more not shown" if total > len(counts) else ""
    return f"New categories in {finding.get('column')}: {listed}{more}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _p_value(value: float | None) -> str:
    """A p-value for people: tiny ones in scientific notation, and a stored 0 as the bound it
    stands for: a p-value is 0 only when it is below what a float holds (about 1e-308).

    >>> [_p_value(p) for p in (0.0312, 1.05e-244, 0.0, None)]
    ['0.0312', '1.05e-244', '<1e-308', '-']
    """
    if value is None:
        return "-"
    if value == 0:
        return "<1e-308"
    return f"{value:.3g}"
