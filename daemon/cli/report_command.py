"""`warden report`: incidents over a period, MTTA, MTTR, how they ended, false alarms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    load,
    parse_at,
    print_csv,
    print_json_lines,
    store_for,
)
from daemon.reporting import build_report
from daemon.store.types import utcnow
from detectors.timeparse import parse_duration


def report(
    config: ConfigOption = None,
    since: Annotated[
        str, typer.Option(metavar="WHEN", help="A duration back from now (30d) or an ISO time.")
    ] = "30d",
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="End (ISO 8601; default now).")
    ] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print one CSV row per pattern and per dataset.")
    ] = False,
) -> None:
    """Report on incidents first seen in a period: by pattern and dataset, MTTA, MTTR, how
    they ended (playbook approved automatically or by a person, by themselves, by a person,
    closed) and the false-alarm rate."""
    end = parse_at(until, "--until") or utcnow()
    start = _since(since, end)
    if start >= end:
        raise UsageProblem("--since must be before --until")
    store = store_for(load(config))
    result = build_report(store, start, end)
    store.close()
    if as_json:
        print_json_lines([result.to_dict()])
        return
    if as_csv:
        columns = ("opened", "active", "resolved", "closed", "false_alarms")
        print_csv(
            [
                {"group": group, "name": name, **{c: counts.get(c, 0) for c in columns}}
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
        f"{start.isoformat()[:16]} to {end.isoformat()[:16]}"
    )
    for title, groups in (("By pattern", result.by_pattern), ("By dataset", result.by_dataset)):
        if not groups:
            continue
        table = Table(title=title)
        columns = ("opened", "active", "resolved", "closed", "false_alarms")
        table.add_column(title.split()[-1])
        for column in columns:
            table.add_column(column.replace("_", " "), justify="right")
        for name, counts in groups.items():
            table.add_row(name, *(str(counts.get(column, 0)) for column in columns))
        console.print(table)
    console.print(f"MTTA {_duration(result.mtta_seconds)}   MTTR {_duration(result.mttr_seconds)}")
    ended = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in result.endings.items())
    console.print(f"How they ended: {ended}")
    rate = result.false_alarm_rate
    console.print(f"False-alarm rate: {'-' if rate is None else f'{rate:.1%}'} of ended incidents")


def _since(value: str, end: datetime) -> datetime:
    try:
        return end - parse_duration(value)
    except ValueError:
        pass
    moment = parse_at(value, "--since")
    assert moment is not None
    return moment


def _duration(summary: dict[str, float | None]) -> str:
    if not summary.get("count"):
        return "- (none)"
    mean, median = summary["mean"] or 0.0, summary["median"] or 0.0
    return (
        f"mean {timedelta(seconds=round(mean))}, median {timedelta(seconds=round(median))} "
        f"over {summary['count']:.0f}"
    )


def register(app: typer.Typer) -> None:
    app.command()(report)
