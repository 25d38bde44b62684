"""`warden incidents list|show` (ack, resolve and close are in `incident_actions`)."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    CsvOption,
    JsonOption,
    UsageProblem,
    check_one_output,
    console,
    load,
    print_for_machines,
    store_for,
    styled_status,
    time_option,
    time_range,
)
from daemon.cli.safe_text import data_markup, data_text
from daemon.store.states import IncidentStatus

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
        str | None, time_option("Only incidents last seen (scan time) at or after WHEN.")
    ] = None,
    until: Annotated[
        str | None, time_option("Only incidents first seen (scan time) before WHEN.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="At most this many, newest first.")
    ] = 200,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List incidents, newest first."""
    from daemon.config.routing import PATTERNS
    from daemon.reporting.queries import IncidentFilter, incident_row, list_incidents

    check_one_output(as_json=as_json, as_csv=as_csv)
    statuses = _statuses(status)
    _check_choice("--pattern", pattern, sorted(PATTERNS))
    _check_choice("--severity", severity, ["info", "warning", "critical"])
    start, end = time_range(since, until)
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
                start,
                end,
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
    console.print(_list_table(rows))


#: The columns of `incidents list`. Only `scope` (column lists, partitions, paths) is free
#: text, cut with an ellipsis to the room the others leave; the rest are ids, names, counts
#: and times, shown whole.
_LIST_COLUMNS = (
    "id",
    "status",
    "severity",
    "pattern",
    "dataset",
    "scope",
    "seen",
    "first seen",
    "proposed",
)
#: Left out, in this order, while the table would not fit the console with `scope` at least
#: `_MIN_SCOPE_WIDTH` wide. All nine need about 120 columns; at 80 the id, status, pattern,
#: scope and proposal stay (`--json` and `incidents show ID` have every field).
_LEFT_OUT_WHEN_NARROW = ("seen", "dataset", "first seen", "severity")
_MIN_SCOPE_WIDTH = 16  # a partition: 2025-02-03 00:00


def _list_table(rows: list[dict[str, Any]]) -> Table:
    """One line per incident, as wide as the console: fixed columns at their content width,
    `scope` cut to the room left, and low-priority columns left out (named in the caption)
    when even that does not fit."""
    cells = [_list_cells(row) for row in rows]
    widths = {
        header: max(len(header), *(len(cell[header]) for cell in cells)) for header in _LIST_COLUMNS
    }

    def table_width(headers: list[str], scope_width: int) -> int:
        # The left border, then per column its content, two spaces of padding and a border.
        return 1 + sum(
            3 + (scope_width if header == "scope" else widths[header]) for header in headers
        )

    shown = list(_LIST_COLUMNS)
    smallest_scope = min(widths["scope"], _MIN_SCOPE_WIDTH)
    left_out: list[str] = []
    for header in _LEFT_OUT_WHEN_NARROW:
        if table_width(shown, smallest_scope) <= console.width:
            break
        shown.remove(header)
        left_out.append(header)
    scope_room = max(smallest_scope, console.width - table_width(shown, 0))
    caption = f"Not shown at this width: {', '.join(left_out)}; see --json." if left_out else None
    table = Table(title=f"{len(rows)} incident(s)", caption=caption)
    for header in shown:
        # On a console narrower than even the short table (under about 77 columns), rich
        # squeezes the columns with an ellipsis; the id, which `show` needs, stays whole.
        table.add_column(header, no_wrap=True, min_width=widths[header] if header == "id" else None)
    for cell, row in zip(cells, rows, strict=True):
        cell["scope"] = _cut(cell["scope"], scope_room, keep_end="path" in row["scope"])
        table.add_row(
            *(
                styled_status(cell[header]) if header == "status" else data_markup(cell[header])
                for header in shown
            )
        )
    return table


def _list_cells(row: dict[str, Any]) -> dict[str, str]:
    """The plain text of one incident's cells, by header (control characters stripped,
    so the widths are those shown)."""
    scope = ", ".join(row["columns"]) or ", ".join(
        _minute(str(value)) if key == "partition" else str(value)
        for key, value in row["scope"].items()
    )
    cells = {
        "id": str(row["id"]),
        "status": str(row["status"]),
        "severity": str(row["severity"]),
        "pattern": str(row["pattern"]),
        "dataset": str(row["dataset"]),
        "scope": scope or "-",
        "seen": f"{row['occurrences']}x",
        "first seen": _minute(row["first_seen"]),
        "proposed": _proposed_short(row),
    }
    return {header: data_text(text) for header, text in cells.items()}


def _minute(moment: str) -> str:
    """An ISO 8601 time as `2025-02-10 00:00` (the table's form); other text unchanged."""
    try:
        datetime.fromisoformat(moment)
    except ValueError:
        return moment
    return moment[:16].replace("T", " ")


def _cut(text: str, width: int, *, keep_end: bool = False) -> str:
    """`text` cut to `width` characters with an ellipsis; a path keeps its end (the file).

    >>> _cut("region, salary, age", 12)
    'region, sal…'
    >>> _cut("data/loans/date=2025-02-03/part-0.parquet", 16, keep_end=True)
    '…/part-0.parquet'
    """
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1) :] if keep_end else text[: width - 1] + "…"


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


def _proposed_short(row: dict[str, object]) -> str:
    """The table's short form: the playbook, `notify`, or `silenced`."""
    route = row.get("route")
    if isinstance(route, dict):
        return str(route.get("playbook") or "notify")
    return "silenced" if row.get("silenced_by") else str(row["proposed_action"]).split(" ")[0]
