"""`warden report`: incidents over a period, MTTA, MTTR, how they ended, false alarms."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    check_one_output,
    console,
    format_minute,
    load,
    print_csv,
    print_json_lines,
    store_for,
    time_option,
    time_range,
)
from daemon.cli.safe_text import data_markup
from daemon.clock import utcnow

#: How MTTA and MTTR are measured, said once for the help and the printed report.
CLOCK_DEFINITION = (
    "MTTA and MTTR run from when Warden recorded the incident to when its first "
    "acknowledgement (by a person, or a remediation starting) and its resolution were "
    "recorded. Recording times, not scan times: a scan replayed with `warden scan --at` "
    "counts when it ran."
)

# The help is one string with blank lines between paragraphs: Typer's rich help keeps a
# docstring's line breaks, which would cut sentences in `warden --help`.
REPORT_HELP = (
    "Report on incidents first seen in a period: counts, MTTA, MTTR, how they ended, "
    "false alarms.\n\n"
    "The period is --since to --until (the last 30 days by default), over the scan time "
    "at which each incident was first seen. Counts are by pattern and by dataset: opened, "
    "still active, resolved, closed and false alarms.\n\n"
    f"{CLOCK_DEFINITION}\n\n"
    "Endings: by a playbook approved automatically or by a person, by themselves (clean "
    "scans), by a person, or closed. The false-alarm rate is the share of ended incidents "
    "a person closed as a false alarm."
)


def report(
    config: ConfigOption = None,
    since: Annotated[str, time_option("Incidents first seen at or after WHEN.")] = "30d",
    until: Annotated[
        str | None, time_option("Incidents first seen before WHEN (default: now).")
    ] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per pattern and per dataset.")
    ] = False,
) -> None:
    """Report on incidents first seen in a period (the help text is REPORT_HELP)."""
    from daemon.reporting.summary import COUNT_COLUMNS, build_report

    check_one_output(as_json=as_json, as_csv=as_csv)
    now = utcnow()
    start, end = time_range(since, until, now=now, default_until=now)
    assert start is not None and end is not None
    store = store_for(load(config))
    try:
        result = build_report(store, start, end)
    finally:
        store.close()
    if as_json:
        print_json_lines([result.to_dict()])
        return
    if as_csv:
        print_csv(
            [
                {"group": group, "name": name, **counts}
                for group, groups in (
                    ("pattern", result.by_pattern),
                    ("dataset", result.by_dataset),
                )
                for name, counts in groups.items()
            ]
        )
        return
    console.print(
        f"[bold]{result.incidents} incident(s)[/] first seen "
        f"{format_minute(start)} to {format_minute(end)}"
    )
    for title, groups in (("By pattern", result.by_pattern), ("By dataset", result.by_dataset)):
        if not groups:
            continue
        table = Table(title=title)
        table.add_column(title.split()[-1])
        for column in COUNT_COLUMNS:
            table.add_column(column.replace("_", " "), justify="right")
        for name, counts in groups.items():
            table.add_row(data_markup(name), *(str(counts[column]) for column in COUNT_COLUMNS))
        console.print(table)
    console.print(f"MTTA {_duration(result.mtta_seconds)}   MTTR {_duration(result.mttr_seconds)}")
    console.print(f"[dim]{CLOCK_DEFINITION}[/]", highlight=False)
    ended = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in result.endings.items())
    console.print(f"How they ended: {ended}")
    rate = result.false_alarm_rate
    console.print(f"False-alarm rate: {'-' if rate is None else f'{rate:.1%}'} of ended incidents")


def _duration(summary: dict[str, float | None]) -> str:
    if not summary.get("count"):
        return "- (none)"
    mean, median = summary["mean"] or 0.0, summary["median"] or 0.0
    return (
        f"mean {timedelta(seconds=round(mean))}, median {timedelta(seconds=round(median))} "
        f"over {summary['count']:.0f}"
    )


def register(app: typer.Typer) -> None:
    app.command(help=REPORT_HELP)(report)
