"""`warden init`, `warden validate-config`, `warden schema`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from daemon.cli.common import JsonOption, UsageProblem, console, print_json_lines
from daemon.cli.safe_text import data_markup
from detectors.sources.errors import SourceError


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path(
        "warden.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config to edit."""
    from daemon.config.schema import STARTER_CONFIG

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
        typer.Option(
            "--check-data/--no-check-data",
            help="Also open every dataset (schemas and a small sample, never a full read) "
            "and check each column the config names against it.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Check a config file: its shape, its values and (by default) that it fits its data.

    With --check-data (the default) every dataset is opened as a scan opens it: each column
    the config names (time, entity and role columns, monitor columns, route and playbook
    columns) must exist, and the time column must be a timestamp or a date, or text that
    parses (ISO 8601, or the dataset's `time_format`). Exit code 0 when it is usable, 2 when
    it is not. With --json, the verdict and every problem are printed as one JSON object
    either way.
    """
    from daemon.config import ConfigError, load_config
    from daemon.config.loader import _line_of as line_of

    try:
        config = load_config(path)
    except ConfigError as error:
        if not as_json:
            raise
        problems = [{"path": p.path, "line": p.line, "message": p.message} for p in error.problems]
        print_json_lines([{"file": str(path), "valid": False, "problems": problems}])
        raise typer.Exit(2) from None
    data_problems: list[Any] = []
    warnings: list[str] = []
    if check_data:
        from daemon.scan import data_checks  # loads the engines: only when asked to

        report = data_checks.check_data(config)
        data_problems, warnings = report.problems, list(report.warnings)
    root = _yaml_root(path) if data_problems else None
    problems = [
        {"path": problem.path, "line": line_of(root, problem.location), "message": problem.message}
        for problem in data_problems
    ]
    # In file order, as the loader reports config errors (sorted() is stable).
    problems.sort(key=lambda problem: problem["line"] or 0)
    if not config.monitors:
        warnings.append("the config defines no monitors: `warden scan` has nothing to run")
    if as_json:
        record = {
            "file": str(path),
            "valid": not problems,
            "problems": problems,
            "warnings": warnings,
            "monitors": len(config.monitors),
            "datasets": len(config.datasets),
        }
        print_json_lines([record])
        if problems:
            raise typer.Exit(2)
        return
    if problems:
        lines = "\n  ".join(
            f"{p['path']}" + (f" (line {p['line']})" if p["line"] else "") + f": {p['message']}"
            for p in problems
        )
        raise SourceError(f"{path} is well formed, but does not fit its data:\n  {lines}")
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {data_markup(warning)}")
    console.print(
        f"[green]OK[/] {data_markup(path)}: {len(config.datasets)} dataset(s), "
        f"{len(config.monitors)} monitor(s)."
    )


def _yaml_root(path: Path) -> Any:
    """The file's composed YAML, to find the line of a key (None if it cannot be read)."""
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def schema() -> None:
    """Print the config's JSON Schema (the content of config/warden.schema.json)."""
    from daemon.config.schema import config_json_schema_text

    sys.stdout.write(config_json_schema_text())


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command("validate-config")(validate_config)
    app.command()(schema)
