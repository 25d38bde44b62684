"""`warden audit verify|log`: check and read the hash-chained audit trail."""

from __future__ import annotations

import difflib
import json
from typing import Annotated

import typer

from daemon.cli.common import (
    ConfigOption,
    CsvOption,
    JsonOption,
    UsageProblem,
    check_one_output,
    console,
    load,
    print_for_machines,
    print_json_lines,
    store_for,
    time_option,
    time_range,
)
from daemon.cli.safe_text import data_markup, data_text

app = typer.Typer(
    help="The audit trail: every detection, decision and action, hash-chained.",
    no_args_is_help=True,
)

#: Exit code of `audit verify` when the chain is broken (2 is for usage and config errors).
EXIT_BROKEN = 4


def _checkpoint(value: str | None) -> tuple[int, str] | None:
    """`SEQ:HASH` as (seq, hash); a usage error otherwise."""
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not (seq.isdigit() and int(seq) > 0 and len(digest) == 64):
        raise UsageProblem(
            f"--expect {value!r}: give the checkpoint as SEQ:HASH, the `last_seq` and "
            "`last_hash` an earlier `warden audit verify --json` printed"
        )
    return int(seq), digest.lower()


@app.command("verify")
def verify_command(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    expect: Annotated[
        str | None,
        typer.Option(
            metavar="SEQ:HASH",
            help="A checkpoint exported earlier (last_seq:last_hash of `verify --json`): "
            "that event must still carry that hash, so a rewrite or a truncation is caught.",
        ),
    ] = None,
) -> None:
    """Check every link of the chain; exit 4 naming the first broken or missing event.

    Keyed events (appended while WARDEN_AUDIT_KEY was set) are checked with the key from
    the same variable: set it here too."""
    from daemon.store.audit import audit_key, verify_audit_chain

    checkpoint = _checkpoint(expect)
    store = store_for(load(config))
    with store.session(readonly=True) as session:
        outcome = verify_audit_chain(session, key=audit_key(), expect=checkpoint)
    store.close()
    if as_json:
        print_json_lines(
            [
                {
                    "ok": outcome.ok,
                    "checked": outcome.checked,
                    "first_bad_seq": outcome.first_bad_seq,
                    "problem": outcome.problem,
                    "last_seq": outcome.checked if outcome.ok else None,
                    "last_hash": outcome.last_hash,
                }
            ]
        )
    elif outcome.ok:
        console.print(
            f"[green]OK[/]: {outcome.checked} event(s), every link intact. "
            f"Checkpoint {outcome.checked}:{data_markup(outcome.last_hash or '-')} (record it "
            "elsewhere; `--expect` it later to detect a rewrite or a truncation)."
        )
    else:
        console.print(
            f"[bold red]BROKEN[/] at event {outcome.first_bad_seq}: {data_markup(outcome.problem)} "
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
            metavar="ACTION",
            help="Only this action (incident.opened) or family (incident, run, silence...).",
        ),
    ] = None,
    since: Annotated[str | None, time_option("Only events recorded at or after WHEN.")] = None,
    until: Annotated[str | None, time_option("Only events recorded before WHEN.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="At most the newest N events.")
    ] = 1000,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Show audit events, oldest first."""
    from daemon.reporting.queries import AuditFilter, audit_events, audit_row, recorded_actions

    check_one_output(as_json=as_json, as_csv=as_csv)
    start, end = time_range(since, until)
    store = store_for(load(config))
    try:
        if action is not None:
            _check_action(action, recorded_actions(store))
        filters = AuditFilter(incident, actor, action, start, end, limit)
        rows = [audit_row(event) for event in audit_events(store, filters)]
    finally:
        store.close()
    if print_for_machines(rows, as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        console.print("No audit events match.")
        return
    # One line per event, like a log: seq, when recorded, who, what, about what, details.
    for row in rows:
        console.print(
            f"[dim]{row['seq']:>6}[/] {data_markup(row['at'][:19].replace('T', ' '))}  "
            f"[bold]{data_markup(row['actor'])}[/] {data_markup(row['action'])} "
            f"{data_markup(row['entity_type'])} {data_markup(row['entity_id'])}  "
            f"[dim]{data_markup(_details(row['payload']))}[/]",
            highlight=False,
            markup=True,
        )
    console.print(f"{len(rows)} event(s)")


def _check_action(value: str, recorded: list[str]) -> None:
    """Refuse an --action that is neither an action nor a family of actions Warden writes
    (or that is in this store), suggesting the closest: a typo would otherwise read as "no
    such events"."""
    from daemon.reporting.queries import AUDIT_ACTIONS

    actions = sorted({*AUDIT_ACTIONS, *recorded})
    families = sorted({name.split(".")[0] for name in actions})
    family = value.rstrip(".")
    if family in families or value in actions:
        return
    # A cut-short action name (incident.ack) means the action it starts, not its family.
    close = [name for name in actions if name.startswith(value)][:1] or (
        difflib.get_close_matches(value, [*families, *actions], n=1)
    )
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageProblem(
        f"--action {value!r} is not an audit action{hint}. Families: {', '.join(families)}; "
        f"actions: {', '.join(actions)}"
    )


def _details(payload: dict[str, object]) -> str:
    """The payload as `key=value` pairs, empty values left out, at most 160 characters
    (counted after control characters are stripped)."""
    parts = [
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in sorted(payload.items())
        if value not in (None, "", [], {}, False)
    ]
    text = data_text(" ".join(parts))
    return text if len(text) <= 160 else text[:157] + "..."
