"""`warden audit verify|log`: check and read the hash-chained audit trail."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from daemon.cli.common import (
    ConfigOption,
    CsvOption,
    JsonOption,
    console,
    load,
    parse_at,
    print_for_machines,
    print_json_lines,
    store_for,
)
from daemon.queries import AuditFilter, audit_events, audit_row
from daemon.store.audit import verify_audit_chain

app = typer.Typer(
    help="The audit trail: every detection, decision and action, hash-chained.",
    no_args_is_help=True,
)

#: Exit code of `audit verify` when the chain is broken (2 is for usage and config errors).
EXIT_BROKEN = 4


@app.command("verify")
def verify_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Check every link of the chain; exit 4 naming the first broken or missing event."""
    store = store_for(load(config))
    with store.session(readonly=True) as session:
        outcome = verify_audit_chain(session)
    store.close()
    if as_json:
        print_json_lines(
            [
                {
                    "ok": outcome.ok,
                    "checked": outcome.checked,
                    "first_bad_seq": outcome.first_bad_seq,
                    "problem": outcome.problem,
                    "last_hash": outcome.last_hash,
                }
            ]
        )
    elif outcome.ok:
        console.print(
            f"[green]OK[/]: {outcome.checked} event(s), every link intact. "
            f"Last hash {outcome.last_hash or '-'} (record it elsewhere to detect truncation)."
        )
    else:
        console.print(
            f"[bold red]BROKEN[/] at event {outcome.first_bad_seq}: {outcome.problem} "
            f"({outcome.checked} event(s) before it are intact)."
        )
    if not outcome.ok:
        raise typer.Exit(EXIT_BROKEN)


@app.command("log")
def log_command(
    config: ConfigOption = None,
    incident: Annotated[
        int | None, typer.Option(metavar="ID", help="Only events about this incident.")
    ] = None,
    actor: Annotated[str | None, typer.Option(metavar="NAME", help="Only this actor.")] = None,
    action: Annotated[
        str | None,
        typer.Option(
            metavar="ACTION", help="Only this action, or a family: incident, incident.opened..."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="TIME", help="Recorded at or after (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="Recorded before (ISO 8601).")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="At most the newest N events.")
    ] = 1000,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Show audit events, oldest first."""
    filters = AuditFilter(
        incident, actor, action, parse_at(since, "--since"), parse_at(until, "--until"), limit
    )
    store = store_for(load(config))
    rows = [audit_row(event) for event in audit_events(store, filters)]
    store.close()
    if print_for_machines(rows, as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        console.print("No audit events match.")
        return
    # One line per event, like a log: seq, when recorded, who, what, about what, details.
    for row in rows:
        console.print(
            f"[dim]{row['seq']:>6}[/] {row['at'][:19].replace('T', ' ')}  "
            f"[bold]{row['actor']}[/] {row['action']} "
            f"{row['entity_type']} {row['entity_id']}  [dim]{_details(row['payload'])}[/]",
            highlight=False,
            markup=True,
        )
    console.print(f"{len(rows)} event(s)")


def _details(payload: dict[str, object]) -> str:
    """The payload as `key=value` pairs, empty values left out, at most 160 characters."""
    parts = [
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in sorted(payload.items())
        if value not in (None, "", [], {}, False)
    ]
    text = " ".join(parts)
    return text if len(text) <= 160 else text[:157] + "..."
