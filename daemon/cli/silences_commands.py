"""`warden silences add|list|expire`: silences made at run time."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    CsvOption,
    JsonOption,
    UsageProblem,
    console,
    format_minute,
    load,
    parse_at,
    print_for_machines,
    store_for,
)
from daemon.cli.safe_text import data_markup
from daemon.clock import utcnow
from detectors.timeparse import parse_duration

if TYPE_CHECKING:
    from daemon.store.models import Silence

app = typer.Typer(
    help="Silence detections for a while: they are still recorded, but not routed or "
    "notified. (Planned maintenance windows go in the config's `maintenance:` section.)",
    no_args_is_help=True,
)


@app.command("add")
def add_command(
    reason: Annotated[
        str,
        typer.Option(
            metavar="TEXT",
            help="Why, for the people reading the incident later.",
            show_default=False,
        ),
    ],
    config: ConfigOption = None,
    dataset: Annotated[str | None, typer.Option(metavar="NAME", help="Only this dataset.")] = None,
    monitor: Annotated[str | None, typer.Option(metavar="NAME", help="Only this monitor.")] = None,
    pattern: Annotated[
        str | None, typer.Option(metavar="PATTERN", help="Only this pattern, like null_spike.")
    ] = None,
    duration: Annotated[
        str, typer.Option("--for", metavar="DURATION", help="How long, like 2h or 1d.")
    ] = "24h",
    start: Annotated[
        str | None, typer.Option(metavar="TIME", help="Start (ISO 8601; default now).")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--as", metavar="USER", help="Who (default: your login).")
    ] = None,
) -> None:
    """Silence matching detections from now (or --start) for --for (default 24h)."""
    from daemon.config.routing import PATTERNS
    from daemon.incidents.silences import SilenceProblem, add_silence

    loaded = load(config)
    if not (dataset or monitor or pattern):
        raise UsageProblem(
            "name what to silence with --dataset, --monitor and/or --pattern "
            "(silencing everything would hide every problem)"
        )
    for option, value, known in (
        ("--dataset", dataset, sorted(loaded.datasets)),
        ("--monitor", monitor, sorted(m.name for m in loaded.monitors)),
        ("--pattern", pattern, sorted(PATTERNS)),
    ):
        if value is not None and value not in known:
            raise UsageProblem(f"{option} {value!r} is not one of: {', '.join(known)}")
    try:
        length = parse_duration(duration)
    except ValueError as error:
        raise UsageProblem(f"--for: {error}") from None
    now = utcnow()
    starts_at = parse_at(start, "--start") or now
    if starts_at + length <= now:
        # Only a --start in the past can do this; such a silence would hold back nothing.
        raise UsageProblem(
            f"--start {start} --for {duration} ends at {format_minute(starts_at + length)}, "
            f"which has already passed (now {format_minute(now)}), so it would silence "
            "nothing from now on; give a later --start or a longer --for"
        )
    store = store_for(loaded)
    try:
        with store.session() as session:
            silence = add_silence(
                session,
                created_by=actor or getpass.getuser(),
                reason=reason,
                starts_at=starts_at,
                ends_at=starts_at + length,
                dataset=dataset,
                monitor=monitor,
                pattern=pattern,
            )
            silence_id, ends_at = silence.id, silence.ends_at
    except SilenceProblem as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    console.print(f"Silence {silence_id} holds until {ends_at.isoformat()}.")


@app.command("list")
def list_command(
    config: ConfigOption = None,
    include_ended: Annotated[
        bool, typer.Option("--all", help="Include silences that have ended.")
    ] = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List silences in effect (or all of them with --all), newest first."""
    from sqlmodel import col, or_, select

    from daemon.store.models import Silence

    store = store_for(load(config))
    now = utcnow()
    query = select(Silence).order_by(col(Silence.id).desc())
    if not include_ended:
        query = query.where(
            col(Silence.ends_at) > now,
            or_(col(Silence.expired_at).is_(None), col(Silence.expired_at) > now),
        )
    with store.session(readonly=True) as session:
        rows = [_row(silence) for silence in session.exec(query).all()]
    store.close()
    if print_for_machines(rows, as_json=as_json, as_csv=as_csv):
        return
    if not rows:
        console.print("No silences." if include_ended else "No silence is in effect.")
        return
    table = Table(title=f"{len(rows)} silence(s)")
    for header in ("id", "match", "from", "until", "by", "reason"):
        table.add_column(header, no_wrap=header in ("id", "from", "until"), overflow="fold")
    for row in rows:
        match = " ".join(
            f"{key}={row[key]}" for key in ("dataset", "monitor", "pattern") if row[key]
        )
        table.add_row(
            str(row["id"]),
            data_markup(match),
            str(row["starts_at"])[:16].replace("T", " "),
            str(row["expired_at"] or row["ends_at"])[:16].replace("T", " "),
            data_markup(row["created_by"]),
            data_markup(row["reason"]),
        )
    console.print(table)


@app.command("expire")
def expire_command(
    silence_id: Annotated[int, typer.Argument(help="Silence id (from `warden silences list`).")],
    config: ConfigOption = None,
    actor: Annotated[
        str | None, typer.Option("--as", metavar="USER", help="Who (default: your login).")
    ] = None,
) -> None:
    """End a silence now: detections from now on are routed and notified again."""
    from daemon.incidents.silences import SilenceProblem, expire_silence

    store = store_for(load(config))
    try:
        with store.session() as session:
            expire_silence(session, silence_id, actor=actor or getpass.getuser())
    except SilenceProblem as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    console.print(f"Silence {silence_id} has ended.")


def _row(silence: Silence) -> dict[str, object]:
    return {
        "id": silence.id,
        "dataset": silence.dataset,
        "monitor": silence.monitor,
        "pattern": silence.pattern,
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "expired_at": silence.expired_at.isoformat() if silence.expired_at else None,
        "created_by": silence.created_by,
        "reason": silence.reason,
    }
