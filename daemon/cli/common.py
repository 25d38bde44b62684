"""What every CLI command shares: the --config option, loading, errors, output helpers."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from daemon.config import WardenConfig, load_config
from daemon.settings import read_settings
from daemon.store.engine import Store, open_store
from detectors.timeparse import parse_instant

console = Console()
err_console = Console(stderr=True)

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
    return option or read_settings().config


def load(option: str | None) -> WardenConfig:
    return load_config(config_path(option))


def store_for(config: WardenConfig) -> Store:
    return open_store(config.store.url)


def parse_at(value: str | None, option: str = "--at") -> datetime | None:
    """An ISO 8601 option value as an aware UTC datetime; a usage error names `option`."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as error:
        raise UsageProblem(f"{option}: {error}") from None


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
    if as_json and as_csv:
        raise UsageProblem("choose one of --json and --csv")
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
    text = escape(status)
    return f"[{style}]{text}[/]" if style else text
