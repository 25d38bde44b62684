"""`warden incidents list|show` (ack, resolve and close are in `incident_actions`)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    CsvOption,
    JsonOption,
    UsageProblem,
    console,
    err_console,
    load,
    parse_at,
    print_csv,
    print_for_machines,
    print_json_lines,
    store_for,
    styled_status,
)
from daemon.config.routing import PATTERNS
from daemon.html_report import render_incident_html
from daemon.queries import IncidentFilter, get_incident, incident_row, list_incidents
from daemon.store.models import IncidentStatus

app = typer.Typer(
    help="Inspect and act on incidents: what was found, when, what is proposed; "
    "acknowledge, resolve or close them.",
    no_args_is_help=True,
)


@app.command("list")
def list_command(
    config: ConfigOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            metavar="STATUS",
            help=(
                "open, acknowledged, remediating, resolved, closed; "
                "'active' = the first three (repeatable)."
            ),
        ),
    ] = None,
    dataset: Annotated[str | None, typer.Option(metavar="NAME", help="Only this dataset.")] = None,
    monitor: Annotated[str | None, typer.Option(metavar="NAME", help="Only this monitor.")] = None,
    pattern: Annotated[
        str | None,
        typer.Option(metavar="PATTERN", help="Only this failure pattern, like feature_drift."),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option(metavar="LEVEL", help="Only this severity: info, warning, critical."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="TIME", help="Seen at or after this ISO 8601 time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="First seen before this ISO 8601 time.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="At most this many, newest first.")
    ] = 200,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List incidents, newest first."""
    statuses = _statuses(status)
    _check_choice("--pattern", pattern, sorted(PATTERNS))
    _check_choice("--severity", severity, ["info", "warning", "critical"])
    store = store_for(load(config))
    rows = [
        incident_row(incident)
        for incident in list_incidents(
            store,
            IncidentFilter(
                statuses,
                dataset,
                monitor,
                pattern,
                severity,
                parse_at(since, "--since"),
                parse_at(until, "--until"),
                limit,
            ),
        )
    ]
    store.close()
    if print_for_machines(rows, as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        console.print("No incidents match.")
        return
    table = Table(title=f"{len(rows)} incident(s)")
    for header in ("id", "status", "severity", "pattern", "dataset", "scope", "seen", "first seen"):
        # Identifiers are never cut; free text wraps.
        table.add_column(header, no_wrap=header in ("pattern", "status", "first seen"))
    table.add_column("proposed", overflow="fold")
    for row in rows:
        scope = ", ".join(row["columns"]) or ", ".join(str(v) for v in row["scope"].values()) or "-"
        table.add_row(
            str(row["id"]),
            f"{styled_status(row['status'])}",
            row["severity"],
            row["pattern"],
            row["dataset"],
            scope,
            f"{row['occurrences']}x",
            row["first_seen"][:16].replace("T", " "),
            _proposed_short(row),
        )
    console.print(table)


def _check_choice(option: str, value: str | None, choices: list[str]) -> None:
    if value is not None and value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageProblem(
            f"{option} {value!r} is not known{hint}; use one of: {', '.join(choices)}"
        )


def _statuses(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    allowed = {s.value for s in IncidentStatus}
    result: list[str] = []
    for value in values:
        if value == "active":
            result.extend(["open", "acknowledged", "remediating"])
        elif value in allowed:
            result.append(value)
        else:
            raise UsageProblem(
                f"--status {value!r} is not one of: active, {', '.join(sorted(allowed))}"
            )
    return result


@app.command("show")
def show_command(
    incident_id: Annotated[int, typer.Argument(help="Incident id (from `warden incidents list`).")],
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
    store = store_for(load(config))
    incident, events = get_incident(store, incident_id)
    store.close()
    if incident is None:
        raise UsageProblem(f"there is no incident {incident_id}; see `warden incidents list`")
    if html_file is not None:
        _write_html(html_file, render_incident_html(incident, events))
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
        print_json_lines([{**row, "evidence": incident.evidence, "timeline": timeline}])
        return
    if as_csv:
        print_csv([{"incident": incident.id, **item} for item in timeline])
        return
    console.print(
        f"[bold]Incident #{incident.id}[/] {styled_status(incident.status)}  {incident.title}"
    )
    console.print(
        f"monitor {incident.monitor} · severity {incident.severity} · "
        f"seen {incident.occurrences}x · "
        f"first {row['first_seen']} · last {row['last_seen']}"
    )
    if incident.previous_incident_id:
        console.print(f"reopens incident #{incident.previous_incident_id}")
    windows = incident.evidence.get("windows", {})
    for name, window in windows.items():
        console.print(
            f"{name} window: {window.get('dataset')} [{window.get('start')}, {window.get('end')})"
        )
    evidence = Table(title="Evidence")
    for header in ("column", "method", "statistic", "threshold", "p-value"):
        evidence.add_column(header)
    for finding in incident.evidence.get("findings", []):
        evidence.add_row(
            finding.get("column") or "-",
            finding["method"],
            _number(finding.get("statistic")),
            _number(finding.get("threshold")),
            _number(finding.get("p_value")),
        )
    console.print(evidence)
    console.print(f"Proposed: [bold]{row['proposed_action']}[/]")
    if incident.closed_reason:
        label = "false alarm" if incident.false_alarm else "closed"
        console.print(f"{label}: {incident.closed_reason}")
    console.print("[bold]Timeline[/]")
    for item in timeline:
        moment = item["scan_time"] or item["at"]
        console.print(
            f"  {moment[:16].replace('T', ' ')}  {item['actor']:<10} {item['action']}  "
            f"{_payload_summary(item['payload'])}"
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
    err_console.print(f"Wrote {target} ({len(page.encode()) // 1024 + 1} KB).")


def _payload_summary(payload: dict[str, object]) -> str:
    parts = []
    for key in ("occurrences", "columns", "reason", "scope"):
        value = payload.get(key)
        if value:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _proposed_short(row: dict[str, object]) -> str:
    """The table's short form: the playbook, `notify`, or `silenced`."""
    route = row.get("route")
    if isinstance(route, dict):
        return str(route.get("playbook") or "notify")
    return "silenced" if row.get("silenced_by") else str(row["proposed_action"]).split(" ")[0]
