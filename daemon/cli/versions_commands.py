"""`warden versions list|diff`: the versions of a dataset that scans read, and what changed
between two of them (`daemon.scan.version_records`, `detectors.versions.diff`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

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

app = typer.Typer(
    help="Dataset versions: which version of its data each scan read (a Delta version, an "
    "Iceberg snapshot, a manifest of files, a SQL window's fingerprint), and what changed "
    "between two.",
    no_args_is_help=True,
)

DatasetArgument = Annotated[str, typer.Argument(help="A dataset named in the config.")]


@app.command("list")
def list_command(
    dataset: DatasetArgument, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """List the versions of DATASET that scans read, oldest first: id, when first and last
    read, by which scan run, files and rows. With --json, one object per line."""
    from daemon.scan.version_records import listed, version_rows

    loaded = load(config)
    if dataset not in loaded.datasets:
        raise UsageProblem(
            f"no dataset {dataset!r} in the config; datasets: {', '.join(loaded.datasets)}"
        )
    store = store_for(loaded)
    try:
        with store.session(readonly=True) as session:
            rows = [listed(row) for row in version_rows(session, dataset)]
    finally:
        store.close()
    if as_json:
        print_json_lines(rows)
        return
    if not rows:
        console.print(f"No version of {data_markup(dataset)} recorded yet: scan it first.")
        return
    table = Table(title=f"{len(rows)} version(s) of {data_markup(dataset)}")
    for header in ("version", "kind", "first read", "last read", "scans", "files", "rows"):
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(
            data_markup(row["version"]),
            row["kind"],
            f"{_minute(row['seen_at'])} (run {row['scan_run_id']})",
            f"{_minute(row['last_seen_at'])} (run {row['last_scan_run_id']})",
            str(row["scans"]),
            _count(row["files"]),
            _count(row["rows"]),
        )
    console.print(table)


@app.command("diff")
def diff_command(
    old: Annotated[str, typer.Argument(help="The earlier version id.")],
    new: Annotated[str, typer.Argument(help="The later version id.")],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="The dataset whose versions these are (needed when an id names versions "
            "of several datasets).",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed from version OLD to NEW: files added, removed and changed, rows,
    columns added, removed or retyped, and the commits (Delta, Iceberg)."""
    from daemon.scan.version_records import as_version, versions_named
    from detectors.versions.diff import diff_versions

    loaded = load(config)
    store = store_for(loaded)
    try:
        with store.session(readonly=True) as session:
            first = _one(versions_named(session, old, dataset), old, dataset)
            second = _one(versions_named(session, new, first.dataset), new, first.dataset)
            try:
                change = diff_versions(as_version(first), as_version(second))
            except ValueError as error:
                raise UsageProblem(str(error)) from None
            change["dataset"] = first.dataset
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(change, ensure_ascii=False))
        return
    _print_change(change)


def _one(rows: list[Any], version: str, dataset: str | None) -> Any:
    if not rows:
        where = f" of dataset {dataset!r}" if dataset else ""
        raise UsageProblem(
            f"no recorded version {version!r}{where}; see `warden versions list DATASET`"
        )
    if len(rows) > 1:
        names = ", ".join(sorted(row.dataset for row in rows))
        raise UsageProblem(
            f"version {version!r} names versions of several datasets ({names}): "
            "say which with --dataset"
        )
    return rows[0]


def _print_change(change: dict[str, Any]) -> None:
    console.print(
        f"{data_markup(change['dataset'])}: version {data_markup(change['from'])} -> "
        f"{data_markup(change['to'])} ({change['kind']})"
    )
    files = change["files"]
    if files is None and change["kind"] != "sql":
        console.print(
            "files: not compared (a version of more than 10,000 files keeps only its counts)"
        )
    if files is not None:
        counts = files["counts"]
        console.print(
            f"files: {counts['added']} added, {counts['removed']} removed, "
            f"{counts['changed']} changed, {counts['unchanged']} unchanged"
        )
        for label in ("added", "removed", "changed"):
            for path in files[label][:20]:
                console.print(f"  {label[0].upper()} {data_markup(path)}")
    rows = change["rows"]
    if rows["from"] is not None or rows["to"] is not None:
        console.print(f"rows: {_count(rows['from'])} -> {_count(rows['to'])}")
    columns = change["columns"]
    for name, kind in columns["added"].items():
        console.print(f"column added: {data_markup(name)} ({data_markup(kind)})")
    for name, kind in columns["removed"].items():
        console.print(f"column removed: {data_markup(name)} ({data_markup(kind)})")
    for name, types in columns["retyped"].items():
        console.print(
            f"column retyped: {data_markup(name)} {data_markup(types['from'])} -> "
            f"{data_markup(types['to'])}"
        )
    for side in ("from", "to"):
        commit = change["commits"][side]
        if commit:
            console.print(
                f"commit of {data_markup(change[side])}: {commit['operation']} at "
                f"{commit['committed_at']}"
                + (f" {data_markup(json.dumps(commit['warden']))}" if commit["warden"] else "")
            )
    for name, window in (change["windows"] or {}).items():
        verdict = {True: "changed", False: "unchanged", None: "not comparable"}[window["changed"]]
        console.print(
            f"{name} window: {verdict} (rows {_count(window['rows']['from'])} -> "
            f"{_count(window['rows']['to'])})"
        )


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _minute(iso: str) -> str:
    """An ISO 8601 UTC time to the minute, as tables show times."""
    return iso[:16].replace("T", " ")
