"""What every CLI command shares: the --config option, loading, errors, output helpers."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.safe_text import SafeConsole, data_markup
from daemon.clock import utcnow
from detectors.timeparse import parse_duration, parse_instant

if TYPE_CHECKING:
    from daemon.config import WardenConfig
    from daemon.store.engine import Store

# The config (pydantic) and the store (SQLAlchemy) are imported by the functions that use
# them, so that `warden --help` and a command's --help start without loading either.

#: Every human output goes through these; data-derived text is passed through
#: `safe_text.data_markup` (or `data_text`) first.
console = SafeConsole()
err_console = SafeConsole(stderr=True)

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="Config file (default: $WARDEN_CONFIG, else ./warden.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON for machines instead of tables.")
]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")]


class UsageProblem(Exception):
    """A mistake in how a command was called, explained in one paragraph (exit code 2)."""


def config_path(option: str | None) -> str:
    from daemon.settings import read_settings

    return option or read_settings().config


def load(option: str | None) -> WardenConfig:
    from daemon.config import load_config

    return load_config(config_path(option))


def store_for(config: WardenConfig) -> Store:
    """The config's store; with Slack or PagerDuty configured, changes also write their
    messages and pages to the outbox (sent by the daemon), whichever command makes them."""
    from daemon.store.engine import open_store

    store = open_store(config.store.url)
    if config.slack is not None:
        from daemon.slack.outbox_writer import install_outbox_writer  # no slack_sdk

        install_outbox_writer(store, config)
    if config.pagerduty is not None:
        from daemon.paging.page_writer import install_page_writer

        install_page_writer(store, config)
    return store


def parse_at(value: str | None, option: str = "--at") -> datetime | None:
    """An ISO 8601 option value as an aware UTC datetime; a usage error names `option`."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as error:
        raise UsageProblem(f"{option}: {error}") from None


#: What every --since/--until takes: in short in the help, in full in the error.
TIME_BOUND_FORMS_SHORT = (
    "an ISO 8601 date or time (2025-02-01, 2025-02-01T06:00Z) or a duration back from now "
    "(90m, 12h, 7d)"
)
TIME_BOUND_FORMS = (
    "an ISO 8601 date or time (2025-02-01, 2025-02-01T06:00Z; naive means UTC) or a duration "
    "back from now (a positive integer and a unit s, m, h, d or w: 90m, 12h, 7d)"
)


def time_option(meaning: str) -> Any:
    """A --since/--until option: `meaning` says what the bound selects, and the help adds the
    forms it takes. Parse the values with `time_range`."""
    return typer.Option(metavar="WHEN", help=f"{meaning} WHEN is {TIME_BOUND_FORMS_SHORT}.")


def parse_time_bound(value: str, option: str, *, now: datetime) -> datetime:
    """A --since/--until value as an aware UTC datetime: an ISO 8601 instant, or a duration
    meaning that long before `now`. A usage error names the option and both forms.

    >>> from datetime import UTC
    >>> now = datetime(2025, 2, 10, 12, 0, tzinfo=UTC)
    >>> parse_time_bound("36h", "--since", now=now).isoformat()
    '2025-02-09T00:00:00+00:00'
    >>> parse_time_bound("2025-02-01", "--until", now=now).isoformat()
    '2025-02-01T00:00:00+00:00'
    """
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        return parse_instant(value)
    except ValueError:
        raise UsageProblem(f"{option} {value!r} is not a time: write {TIME_BOUND_FORMS}") from None


def time_range(
    since: str | None,
    until: str | None,
    *,
    now: datetime | None = None,
    default_until: datetime | None = None,
) -> tuple[datetime | None, datetime | None]:
    """The --since and --until values of a command, both read against one `now` (default:
    the current time); `default_until` stands in for a missing --until. A range that ends
    before it starts is a usage error, not an empty result."""
    now = now or utcnow()
    start = None if since is None else parse_time_bound(since, "--since", now=now)
    end = default_until if until is None else parse_time_bound(until, "--until", now=now)
    if start is not None and end is not None and start >= end:
        end_text = "now" if until is None else f"--until {until} ({format_minute(end)})"
        raise UsageProblem(
            f"--since {since} ({format_minute(start)}) is not before {end_text}: the range is empty"
        )
    return start, end


def format_minute(moment: datetime) -> str:
    """A moment for people, to the minute: `2025-02-10 06:00 UTC`."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def check_one_output(*, as_json: bool, as_csv: bool) -> None:
    """Refuse --json with --csv: two formats at once is a mistake, not a priority order."""
    if as_json and as_csv:
        raise UsageProblem("choose one of --json and --csv")


def print_json_lines(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row, default=str, sort_keys=False) + "\n")


def print_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                key: json.dumps(value) if isinstance(value, dict | list) else value
                for key, value in row.items()
            }
        )
    sys.stdout.write(buffer.getvalue())


def print_for_machines(rows: list[dict[str, Any]], *, as_json: bool, as_csv: bool) -> bool:
    """Print `rows` as JSON lines (`--json`) or CSV (`--csv`); True when printed, so the
    caller stops there, False when a person gets a table instead."""
    check_one_output(as_json=as_json, as_csv=as_csv)
    if as_json:
        print_json_lines(rows)
    elif as_csv:
        print_csv(rows)
    return as_json or as_csv


def status_style(status: str) -> str:
    return {
        "ok": "green",
        "alert": "bold red",
        "error": "bold magenta",
        "insufficient_data": "yellow",
        "open": "bold red",
        "acknowledged": "yellow",
        "remediating": "cyan",
        "resolved": "green",
        "closed": "dim",
        "proposed": "yellow",
        "approved": "cyan",
        "running": "cyan",
        "succeeded": "green",
        "failed": "bold red",
        "rolled_back": "magenta",
        "rejected": "dim",
        "expired": "dim",
    }.get(status, "")


def styled_status(status: str) -> str:
    """`status` as rich markup in its colour (plain, escaped text when it has none)."""
    style = status_style(status)
    text = data_markup(status)
    return f"[{style}]{text}[/]" if style else text
