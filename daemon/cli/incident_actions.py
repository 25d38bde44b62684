"""`warden incidents ack|resolve|close`: a person changes an incident's status."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from daemon.cli.common import ConfigOption, UsageProblem, console, load, store_for, styled_status
from daemon.cli.safe_text import data_markup
from daemon.store.states import IncidentStatus

IncidentArgument = Annotated[
    int,
    typer.Argument(
        metavar="ID", help="Incident id (from `warden incidents list`).", show_default=False
    ),
]
ActorOption = Annotated[
    str | None,
    typer.Option(
        "--as", metavar="USER", help="Who is acting, for the audit trail (default: your login)."
    ),
]


def _change(
    config: str | None,
    incident_id: int,
    to: IncidentStatus,
    actor: str | None,
    reason: str | None,
    false_alarm: bool = False,
) -> None:
    from daemon.incidents.lifecycle import TransitionRefused, change_status

    store = store_for(load(config))
    try:
        with store.session() as session:
            incident = change_status(
                session,
                incident_id,
                to,
                actor=actor or getpass.getuser(),
                reason=reason,
                false_alarm=false_alarm,
            )
            status, title = incident.status, incident.title
    except TransitionRefused as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    console.print(f"Incident #{incident_id} is now {styled_status(status)}: {data_markup(title)}")


def ack(
    incident_id: IncidentArgument,
    config: ConfigOption = None,
    actor: ActorOption = None,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="A note for the timeline.")
    ] = None,
) -> None:
    """Acknowledge an incident: someone is working on it.

    Its time to acknowledge (MTTA in `warden report`) is measured up to this moment."""
    _change(config, incident_id, IncidentStatus.acknowledged, actor, reason)


def resolve(
    incident_id: IncidentArgument,
    config: ConfigOption = None,
    actor: ActorOption = None,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="What fixed it, for the timeline.")
    ] = None,
) -> None:
    """Mark an incident resolved: the problem is gone (fixed by hand, or upstream)."""
    _change(config, incident_id, IncidentStatus.resolved, actor, reason)


def close(
    incident_id: IncidentArgument,
    reason: Annotated[
        str,
        typer.Option(metavar="TEXT", help="Why it is closed without a fix.", show_default=False),
    ],
    config: ConfigOption = None,
    actor: ActorOption = None,
    false_alarm: Annotated[
        bool, typer.Option("--false-alarm", help="It was never a real problem (counted).")
    ] = False,
) -> None:
    """Close an incident without a fix, with a reason; --false-alarm when it never was one."""
    _change(config, incident_id, IncidentStatus.closed, actor, reason, false_alarm)


def register(app: typer.Typer) -> None:
    app.command()(ack)
    app.command()(resolve)
    app.command()(close)
