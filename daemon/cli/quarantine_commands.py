"""`warden quarantine list|release`: what the quarantine playbook moved aside."""

from __future__ import annotations

import getpass
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
    help="What the quarantine playbook set aside (files moved, table windows excluded): "
    "list it, or release it.",
    no_args_is_help=True,
)


@app.command("list")
def list_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List quarantines: incident, status, files (original path, size, sha256)."""
    from daemon.remediation.quarantines import list_quarantines  # deferred: playbooks load

    manifests = list_quarantines(load(config))
    if as_json:
        print_json_lines(manifests)
        return
    if not manifests:
        console.print("Nothing is quarantined.")
        return
    table = Table(title=f"{len(manifests)} quarantine(s)")
    for header in ("incident", "status", "files", "bytes", "first file"):
        table.add_column(header, overflow="fold", no_wrap=header != "first file")
    for manifest in manifests:
        files = manifest.get("files", [])
        table.add_row(
            f"#{manifest.get('incident_id', '?')}",
            data_markup(manifest.get("status")),
            str(len(files)),
            f"{sum(f.get('bytes', 0) for f in files):,}",
            data_markup(files[0]["original_path"]) if files else _table_of(manifest),
        )
    console.print(table)


@app.command("release")
def release_command(
    incident_id: Annotated[int, typer.Argument(help="The incident whose quarantine to release.")],
    config: ConfigOption = None,
    actor: Annotated[
        str | None, typer.Option("--as", metavar="USER", help="Who (default: your login).")
    ] = None,
) -> None:
    """Move an incident's quarantined files back where they were, byte-identical (for a
    table: lift the exclusion of its window)."""
    from daemon.remediation.quarantines import ReleaseRefused, release  # deferred: playbooks

    loaded = load(config)
    store = store_for(loaded)
    try:
        steps = release(store, loaded, incident_id, actor=actor or getpass.getuser())
    except ReleaseRefused as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    restored = sum(1 for step in steps if step.get("outcome") in ("moved", "already moved"))
    tables = [step["target"] for step in steps if step.get("action") == "include_window"]
    if tables:
        console.print(
            f"Released incident {incident_id}: its window of table "
            f"{data_markup(', '.join(tables))} is read again (the clean view and Warden's "
            "reads include it)."
        )
    else:
        console.print(f"Released incident {incident_id}: {restored} file(s) back in place.")


def _table_of(manifest: dict[str, Any]) -> str:
    """For a table's quarantine (no files moved), the table whose window is excluded, or
    the Delta or Iceberg table whose files a commit removed."""
    window = manifest.get("excluded_window")
    if isinstance(window, dict):
        return data_markup(f"table {window.get('table')}")
    removed = manifest.get("table_files_removed")
    if isinstance(removed, dict):
        return data_markup(
            f"{removed.get('format')} table {removed.get('dataset')}: "
            f"{len(removed.get('paths') or [])} file(s) removed in version "
            f"{removed.get('version_after')}"
        )
    return "-"
