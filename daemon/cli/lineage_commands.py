"""`warden lineage events|send`: the OpenLineage events of scans, queued and sent."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    load,
    print_json_lines,
    store_for,
)
from daemon.cli.safe_text import data_markup

if TYPE_CHECKING:
    from daemon.lineage.impact import Impact

app = typer.Typer(
    help="Lineage: each scan as an OpenLineage run event (lineage.openlineage in the config), "
    "queued with the scan's result and sent to a server or a file.",
    no_args_is_help=True,
)


@app.command("events")
def events_command(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    status: Annotated[
        str | None,
        typer.Option(help="Only events in this state: pending, sending, sent or failed."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """List the scans' OpenLineage events: run id, type, scan run, state, attempts, and
    why the last attempt failed."""
    from sqlmodel import col, select

    from daemon.store.lineage_models import LineageEvent

    if status is not None and status not in ("pending", "sending", "sent", "failed"):
        raise UsageProblem(f"--status {status!r}: one of pending, sending, sent, failed")
    loaded = load(config)
    store = store_for(loaded)
    try:
        with store.session(readonly=True) as session:
            query = select(LineageEvent).order_by(col(LineageEvent.id).desc()).limit(limit)
            if status is not None:
                query = query.where(LineageEvent.status == status)
            rows: list[dict[str, Any]] = [
                {
                    "run_id": row.run_id,
                    "event_type": row.event_type,
                    "scan_run_id": row.scan_run_id,
                    "job": (row.payload.get("job") or {}).get("name"),
                    "status": row.status,
                    "attempts": row.attempts,
                    "created_at": row.created_at.isoformat(),
                    "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                    "last_error": row.last_error,
                }
                for row in session.exec(query).all()
            ]
    finally:
        store.close()
    if as_json:
        print_json_lines(rows)
        return
    if not rows:
        console.print("No OpenLineage event recorded.")
        return
    table = Table(title=f"{len(rows)} OpenLineage event(s), newest first")
    for header in ("run id", "type", "job", "scan run", "state", "attempts", "last error"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["run_id"]),
            str(row["event_type"]),
            data_markup(row["job"]),
            str(row["scan_run_id"]),
            str(row["status"]),
            str(row["attempts"]),
            data_markup(row["last_error"] or ""),
        )
    console.print(table)


@app.command("send")
def send_command(config: ConfigOption = None) -> None:
    """Send the events that are due now (the daemon does this every few seconds)."""
    from daemon.lineage.delivery import deliver_due

    loaded = load(config)
    target = loaded.lineage.openlineage
    if target is None:
        raise UsageProblem("the config has no `lineage.openlineage` destination")
    store = store_for(loaded)
    try:
        outcome = deliver_due(store, target)
    finally:
        store.close()
    console.print(
        f"{outcome.sent} sent, {outcome.retried} kept for a later attempt, "
        f"{outcome.failed} refused"
        + (f": {data_markup(outcome.errors[0])}" if outcome.errors else "")
    )
    if outcome.failed:
        raise typer.Exit(1)


@app.command("impact")
def impact_command(
    incident_id: Annotated[int, typer.Argument(metavar="INCIDENT", help="An incident id.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The job runs (model trainings, batch jobs) that read a version of the dataset holding
    the incident's bad window or files, from the run events received on /api/lineage."""
    from daemon.lineage.impact import impact_of

    loaded = load(config)
    store = store_for(loaded)
    try:
        impact = impact_of(store, loaded, incident_id)
    finally:
        store.close()
    if impact is None:
        raise UsageProblem(f"there is no incident {incident_id}; see `warden incidents list`")
    if as_json:
        typer.echo(json.dumps(impact.to_dict(), ensure_ascii=False))
        return
    print_impact(impact)


def print_impact(impact: Impact) -> None:
    """The impact as `incidents show` and `lineage impact` print it."""
    console.print(
        f"Dataset {data_markup(impact.dataset)}: the detection read version "
        f"{data_markup(impact.detected_version or 'unknown')}; versions holding the bad data: "
        f"{data_markup(', '.join(impact.versions) or 'none recorded')}"
        + (f" ({data_markup(impact.note)})" if impact.note else "")
    )
    if not impact.runs and not impact.unknown_version_runs:
        console.print("No job run received on /api/lineage read them.")
        return
    table = Table(title="Job runs that read the bad data")
    for header in ("job", "run", "state", "at", "version", "how the version is known"):
        table.add_column(header, overflow="fold")
    for run in impact.runs:
        table.add_row(*_run_cells(run))
    for run in impact.unknown_version_runs:
        table.add_row(*_run_cells({**run, "version": "unknown: may have"}))
    console.print(table)


def _run_cells(run: dict[str, Any]) -> list[str]:
    return [
        data_markup(f"{run['job_namespace']}/{run['job_name']}"),
        data_markup(run["run_id"]),
        data_markup(run["event_type"]),
        str(run["event_time"])[:19].replace("T", " "),
        data_markup(run["version"]),
        data_markup(run["version_source"] or "-"),
    ]
