"""An incident group's state, from its members (the one transition function).

    open ──(every unresolved member acknowledged)──► acknowledged
      ▲                                                  │
      └──(an unacknowledged member joins: generation+1)──┘
    open | acknowledged ──(every member resolved or closed)──► closed (final)

Besides the status, a group is *held* (`held_since` set) while every open member is covered
by a silence or maintenance window: its escalation clock pauses, and the time held is added
to `held_seconds` when the silence ends. `refresh_group` is called wherever a member
changes (its status, a join, the escalation job's pass) and audits each transition in the
caller's transaction as `group.<change>`: acknowledged, reopened, closed, held, resumed.
The Slack and PagerDuty hooks turn them into messages and events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from daemon.config.routing import MaintenanceWindow
from daemon.incidents.silences import active_silences, first_cover
from daemon.store.audit import append_audit
from daemon.store.models import Incident, IncidentStatus, Silence
from daemon.store.oncall_models import IncidentGroup

#: A group's statuses and the changes allowed between them.
GROUP_STATUSES = ("open", "acknowledged", "closed")
ALLOWED = {
    "open": frozenset({"acknowledged", "closed"}),
    "acknowledged": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
FINAL = (IncidentStatus.resolved, IncidentStatus.closed)


def members_of(session: Session, group_id: int) -> list[Incident]:
    """The group's incidents, oldest first."""
    return list(
        session.exec(
            select(Incident).where(Incident.group_id == group_id).order_by(col(Incident.id))
        ).all()
    )


def status_from_members(members: Sequence[Incident]) -> str:
    """What the members say the group is: closed when none is left to act on, open while
    one is unacknowledged, else acknowledged."""
    unresolved = [member for member in members if member.status not in FINAL]
    if not unresolved:
        return "closed"
    if any(member.status == IncidentStatus.open for member in unresolved):
        return "open"
    return "acknowledged"


def refresh_group(
    session: Session,
    group: IncidentGroup,
    *,
    actor: str,
    now: datetime,
    maintenance: Sequence[MaintenanceWindow] | None = None,
) -> list[str]:
    """Bring `group` (locked by the caller) in line with its members at `now`; return the
    changes made (`closed`, `held`...; each audited as `group.<change>`). Whether it is held
    is judged only when `maintenance` (the config's windows) is given: a caller that does not
    know the config (a status change from the CLI) leaves that to the escalation job."""
    if group.status == "closed":
        return []
    members = members_of(session, group.id or 0)
    made: list[str] = []
    target = status_from_members(members)
    if target != group.status:
        if target not in ALLOWED[group.status]:  # pragma: no cover - the table is complete
            raise ValueError(f"group {group.id}: {group.status} cannot become {target}")
        made.append(_transition(group, target, now))
    if group.status != "closed" and maintenance is not None:
        held = _all_open_silenced(session, members, now, maintenance)
        if held and group.held_since is None:
            group.held_since = now
            made.append("held")
        elif not held and group.held_since is not None:
            group.held_seconds += max(0.0, (now - group.held_since).total_seconds())
            group.held_since = None
            made.append("resumed")
    session.add(group)
    for change in made:
        append_audit(
            session,
            actor=actor,
            action=f"group.{change}",
            entity_type="incident_group",
            entity_id=str(group.id),
            payload={
                "status": group.status,
                "generation": group.generation,
                "members": [member.id for member in members],
                "at": now.isoformat(),
            },
        )
    return made


def refresh_group_of(
    session: Session,
    incident: Incident,
    *,
    actor: str,
    now: datetime,
    maintenance: Sequence[MaintenanceWindow] | None = None,
) -> list[str]:
    """`refresh_group` for the group of `incident` (which just changed), if it has one."""
    if incident.group_id is None:
        return []
    group = session.exec(
        select(IncidentGroup).where(IncidentGroup.id == incident.group_id).with_for_update()
    ).first()
    if group is None:
        return []
    session.flush()  # the member's change, for the members query
    return refresh_group(session, group, actor=actor, now=now, maintenance=maintenance)


def _transition(group: IncidentGroup, target: str, now: datetime) -> str:
    was = group.status
    group.status = target
    if target == "closed":
        group.closed_at = now
        group.accepting = False
        if group.held_since is not None:
            group.held_seconds += max(0.0, (now - group.held_since).total_seconds())
            group.held_since = None
        return "closed"
    if target == "acknowledged":
        group.acknowledged_at = now
        return "acknowledged"
    assert was == "acknowledged"
    # Somebody must look at the new member: the escalation starts over.
    group.generation += 1
    group.escalation_started_at = now
    group.held_seconds = 0.0
    group.held_since = None
    group.acknowledged_at = None
    return "reopened"


def _all_open_silenced(
    session: Session,
    members: Sequence[Incident],
    now: datetime,
    maintenance: Sequence[MaintenanceWindow],
) -> bool:
    return all_open_covered(members, active_silences(session, now), maintenance, now)


def all_open_covered(
    members: Sequence[Incident],
    silences: Sequence[Silence],
    maintenance: Sequence[MaintenanceWindow],
    now: datetime,
) -> bool:
    """Whether every open member is covered by a silence or maintenance window at `now`
    (`silences`: those holding at `now`); False when none is open."""
    open_members = [member for member in members if member.status == IncidentStatus.open]
    return bool(open_members) and all(
        first_cover(
            silences,
            maintenance,
            at=now,
            monitor=member.monitor,
            dataset=member.dataset,
            pattern=member.pattern,
        )
        is not None
        for member in open_members
    )
