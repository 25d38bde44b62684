"""`warden scan`: run monitors once (cron jobs, CI, backfills with --at)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    load,
    parse_at,
    print_json_lines,
    store_for,
    styled_status,
)
from daemon.config import WardenConfig
from daemon.config.models import MonitorConfig

if TYPE_CHECKING:
    from daemon.scan import ScanReport

#: Exit code when at least one monitor could not be evaluated (its status is `error`).
EXIT_MONITOR_ERROR = 3


def select_monitors(config: WardenConfig, names: list[str] | None) -> list[MonitorConfig]:
    if not config.monitors:
        raise UsageProblem("the config defines no monitors; add some under `monitors:`")
    if not names:
        return list(config.monitors)
    known = {monitor.name: monitor for monitor in config.monitors}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UsageProblem(
            f"unknown monitor(s) {', '.join(unknown)}; the config has: {', '.join(known)}"
        )
    return [known[name] for name in names]


def scan(
    config: ConfigOption = None,
    monitor: Annotated[
        list[str] | None, typer.Option("--monitor", "-m", help="Only this monitor (repeatable).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Evaluate windows as of this ISO 8601 time (default: now, UTC)."),
    ] = None,
    as_json: JsonOption = False,
    refresh_reference: Annotated[
        bool, typer.Option("--refresh-reference", help="Recompute cached reference profiles.")
    ] = False,
) -> None:
    """Run monitors once and print their verdicts.

    Exit code 0 when every monitor was evaluated (alerts and insufficient data included),
    3 when some monitor reported `error` (all results are still printed), 2 when Warden
    itself could not run (config, store).
    """
    from daemon.scan import run_scan, sync_monitors  # deferred: the engines load only to scan

    loaded = load(config)
    monitors = select_monitors(loaded, monitor)
    moment = parse_at(at) or datetime.now(UTC).replace(microsecond=0)
    store = store_for(loaded)
    sync_monitors(store, loaded)
    reports: list[ScanReport] = []
    with console.status("scanning...", spinner="dots") if not as_json else _nothing():
        for item in monitors:
            report = run_scan(
                loaded, item, moment, store, claimed_by="cli", refresh_reference=refresh_reference
            )
            assert report is not None  # replace=True always claims
            reports.append(report)
            if as_json:
                print_json_lines([report.to_json_dict()])
    store.close()
    if not as_json:
        print_reports(reports)
    if any(report.status == "error" for report in reports):
        raise typer.Exit(EXIT_MONITOR_ERROR)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def print_reports(reports: list[ScanReport]) -> None:
    table = Table(
        title=f"Scan as of {reports[0].at.isoformat() if reports else ''}", show_lines=False
    )
    for header in ("monitor", "kind", "status", "alerts", "incidents"):
        table.add_column(header, no_wrap=header in ("monitor", "status"))
    # Messages carry paths and times that matter to the end: fold, never cut with an ellipsis.
    table.add_column("message", overflow="fold")
    for report in reports:
        alerts = [f for f in report.findings if f["alert"]]
        described = ", ".join(
            sorted(
                {f"{f['pattern']}" + (f"({f['column']})" if f["column"] else "") for f in alerts}
            )
        )
        table.add_row(
            report.monitor,
            report.kind,
            f"{styled_status(report.status)}",
            described or "-",
            ", ".join(f"#{i}" for i in report.incident_ids) or "-",
            report.message,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(scan)
