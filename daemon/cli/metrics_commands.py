"""`warden metrics show`: a monitor's window metrics over time (`daemon.store.metric_points`):
what each scan measured, and for `metric_anomaly` monitors the expected band and verdict."""

from __future__ import annotations

from datetime import timedelta
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
    format_minute,
    load,
    print_csv,
    print_json_lines,
    store_for,
    time_range,
)
from daemon.cli.safe_text import data_markup

app = typer.Typer(
    help="Metric history: every scan's window metrics (row count, null rate, mean, distinct "
    "count...) as time series, with metric_anomaly monitors' bands and verdicts.",
    no_args_is_help=True,
)

#: What is shown without --since: the four weeks before the monitor's latest point.
DEFAULT_SPAN = timedelta(days=28)
#: The fields of each printed point, in order (JSON lines and CSV columns).
FIELDS = (
    "monitor",
    "column",
    "metric",
    "window_start",
    "window_end",
    "value",
    "expected",
    "expected_low",
    "expected_high",
    "anomalous",
    "origin",
    "scan_run_id",
)


@app.command("show")
def show_command(
    monitor: Annotated[str, typer.Argument(help="A monitor named in the config.")],
    column: Annotated[
        str | None, typer.Option("--column", help="Only this column's series.")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Only this metric: row_count, null_rate, mean, distinct_count, min, max.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Windows ending after this: a duration back from now (7d) or an instant "
            "(default: the 28 days before the monitor's latest point).",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Show MONITOR's metric points, oldest first per series: the window, the value and,
    for metric_anomaly monitors, the expected band and whether it was anomalous. With
    --json one object per line; with --csv one row per point."""
    from daemon.store.metric_points import latest_end, load_points

    check_one_output(as_json=as_json, as_csv=as_csv)
    loaded = load(config)
    start, _end = time_range(since, None) if since is not None else (None, None)
    store = store_for(loaded)
    try:
        with store.session(readonly=True) as session:
            if start is None:
                latest = latest_end(session, monitor)
                start = None if latest is None else latest - DEFAULT_SPAN
            points = load_points(session, monitor, since=start, column=column, metric=metric)
            rows = [_row(point) for point in points]
    finally:
        store.close()
    known = {item.name for item in loaded.monitors}
    if not rows and monitor not in known:
        raise UsageProblem(
            f"no monitor {monitor!r} in the config and no points kept for it; monitors: "
            f"{', '.join(sorted(known))}"
        )
    if as_json:
        print_json_lines(rows)
        return
    if as_csv:
        print_csv(rows)
        return
    if not rows:
        since_text = "" if start is None else f" since {format_minute(start)}"
        console.print(f"No metric points of {data_markup(monitor)}{since_text}.")
        return
    table = Table(title=f"{len(rows)} point(s) of {data_markup(monitor)}")
    for header in ("series", "window end", "value", "expected band", "verdict", "origin"):
        table.add_column(header, overflow="fold")
    for row in rows:
        band = (
            ""
            if row["expected_low"] is None
            else f"{_number(row['expected_low'])} .. {_number(row['expected_high'])}"
        )
        verdict = {True: "[red]anomalous[/]", False: "ok", None: ""}[row["anomalous"]]
        series = row["metric"] if row["column"] is None else f"{row['column']}.{row['metric']}"
        table.add_row(
            data_markup(series),
            row["window_end"][:16].replace("T", " "),
            _number(row["value"]),
            band,
            verdict,
            row["origin"],
        )
    console.print(table)


def _row(point: Any) -> dict[str, Any]:
    return {
        "monitor": point.monitor,
        "column": point.column_name or None,
        "metric": point.metric,
        "window_start": None if point.window_start is None else point.window_start.isoformat(),
        "window_end": point.window_end.isoformat(),
        "value": point.value,
        "expected": point.expected,
        "expected_low": point.expected_low,
        "expected_high": point.expected_high,
        "anomalous": point.anomalous,
        "origin": point.origin,
        "scan_run_id": point.scan_run_id,
    }


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
