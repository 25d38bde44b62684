"""`warden init`, `warden validate-config`, `warden schema`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from daemon.cli.common import JsonOption, UsageProblem, console, print_json_lines
from daemon.cli.safe_text import data_markup
from daemon.config import ConfigError, WardenConfig, load_config
from daemon.config.schema import STARTER_CONFIG, config_json_schema_text
from detectors.sources.discovery import discover_files
from detectors.sources.errors import SourceError


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path(
        "warden.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config to edit."""
    if path.exists() and not force:
        raise UsageProblem(f"{path} already exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    console.print(
        f"Wrote [bold]{data_markup(path)}[/]. Edit the datasets and monitors, "
        f"then run: warden validate-config {data_markup(path)}"
    )


def validate_config(
    path: Annotated[Path, typer.Argument(help="Config file to check.")],
    check_data: Annotated[
        bool,
        typer.Option("--check-data/--no-check-data", help="Also check that file datasets exist."),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Check a config file: its shape, its values and (by default) that its data files exist.

    Exit code 0 when it is usable, 2 when it is not. With --json, the verdict and every
    problem are printed as one JSON object either way.
    """
    try:
        config = load_config(path)
    except ConfigError as error:
        if not as_json:
            raise
        problems = [{"path": p.path, "line": p.line, "message": p.message} for p in error.problems]
        print_json_lines([{"file": str(path), "valid": False, "problems": problems}])
        raise typer.Exit(2) from None
    data_problems = _data_problems(config) if check_data else []
    warnings = (
        []
        if config.monitors
        else ["the config defines no monitors: `warden scan` has nothing to run"]
    )
    if as_json:
        record = {
            "file": str(path),
            "valid": not data_problems,
            "problems": [
                {"path": where, "line": None, "message": what} for where, what in data_problems
            ],
            "warnings": warnings,
            "monitors": len(config.monitors),
            "datasets": len(config.datasets),
        }
        print_json_lines([record])
        if data_problems:
            raise typer.Exit(2)
        return
    if data_problems:
        lines = "\n  ".join(f"{where}: {what}" for where, what in data_problems)
        raise SourceError(f"{path} is well formed, but its data cannot be found:\n  {lines}")
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {data_markup(warning)}")
    console.print(
        f"[green]OK[/] {data_markup(path)}: {len(config.datasets)} dataset(s), "
        f"{len(config.monitors)} monitor(s)."
    )


def _data_problems(config: WardenConfig) -> list[tuple[str, str]]:
    """(path in the file, problem) for every file dataset whose files cannot be found."""
    problems = []
    for name, dataset in config.datasets.items():
        if dataset.is_file and dataset.path:
            try:
                discover_files(dataset.path, dataset.format)  # type: ignore[arg-type]
            except SourceError as error:
                problems.append((f"datasets.{name}.path", str(error)))
    return problems


def schema() -> None:
    """Print the config's JSON Schema (the content of config/warden.schema.json)."""
    sys.stdout.write(config_json_schema_text())


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command("validate-config")(validate_config)
    app.command()(schema)
