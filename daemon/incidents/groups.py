"""Incident groups: incidents one scan of one dataset opens together share a group.

A routed incident joins the group of its (dataset, channel) that still accepts members:
one whose first member's scan time is within `incidents.group_window` of this scan's (0:
the same scan time only). Otherwise that group stops accepting and a new one opens with
this incident as its lead. A partial unique index lets one group per (dataset, channel)
accept at a time, so two replicas scanning two monitors of one dataset at the same scan
time join one group: the one that loses the insert joins the winner's.

The group carries the escalation policy that matched its lead (`policy_for`, first match
wins, matched like routes), one Slack parent message and one PagerDuty alert. Deduplication
stays per incident (`daemon.incidents.incidents`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from daemon.config.oncall import EscalationPolicy
from daemon.config.routing import MaintenanceWindow
from daemon.incidents.group_lifecycle import refresh_group
from daemon.incidents.routing import IncidentFacts, matches
from daemon.store.audit import append_audit
from daemon.store.models import Incident
from daemon.store.oncall_models import IncidentGroup
from daemon.store.types import utcnow


def policy_for(facts: IncidentFacts, policies: Sequence[EscalationPolicy]) -> str:
    """The name of the first policy matching `facts`, "" when none does."""
    for policy in policies:
        if matches(policy.match, facts):
            return policy.name
    return ""


def join_group(
    session: Session,
    incident: Incident,
    *,
    channel: str,
    policy: str,
    at: datetime,
    window: timedelta,
    actor: str,
    maintenance: Sequence[MaintenanceWindow] = (),
) -> IncidentGroup:
    """Put the routed `incident` (scan time `at`) in its group, opening one if needed."""
    for _attempt in range(3):
        group = session.exec(
            select(IncidentGroup)
            .where(
                IncidentGroup.dataset == incident.dataset,
                IncidentGroup.channel == channel,
                IncidentGroup.accepting == True,  # noqa: E712 - SQL, not Python
            )
            .with_for_update()
        ).first()
        if group is not None and group.opened_at - window <= at <= group.accepting_until:
            _join(session, group, incident, policy, actor, maintenance)
            return group
        # A replayed scan older than the accepting group (`warden scan --at` in the past)
        # gets a group of its own that takes no one else: the live group stays open.
        replay = group is not None and at < group.opened_at - window
        if group is not None and not replay:
            group.accepting = False
            session.add(group)
            session.flush()
        created = _open(session, incident, channel, policy, at, window, accepting=not replay)
        if created is not None:
            append_audit(
                session,
                actor=actor,
                action="group.opened",
                entity_type="incident_group",
                entity_id=str(created.id),
                payload={
                    "dataset": incident.dataset,
                    "channel": channel,
                    "policy": policy,
                    "lead": incident.id,
                    "accepting_until": created.accepting_until.isoformat(),
                },
            )
            return created
        # Another scan of this dataset opened the group a moment ago: join it instead.
    raise RuntimeError(f"could not group incident {incident.id}")


def _open(
    session: Session,
    incident: Incident,
    channel: str,
    policy: str,
    at: datetime,
    window: timedelta,
    *,
    accepting: bool = True,
) -> IncidentGroup | None:
    recorded = utcnow()
    group = IncidentGroup(
        dataset=incident.dataset,
        channel=channel,
        policy=policy,
        opened_at=at,
        accepting_until=at + window,
        accepting=accepting,
        lead_incident_id=incident.id or 0,
        # The recording time, not the scan time: a scan replayed with --at must not fire
        # every step at once.
        escalation_started_at=recorded,
        created_at=recorded,
    )
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError:
        return None
    incident.group_id = group.id
    session.add(incident)
    session.flush()
    return group


def _join(
    session: Session,
    group: IncidentGroup,
    incident: Incident,
    policy: str,
    actor: str,
    maintenance: Sequence[MaintenanceWindow],
) -> None:
    incident.group_id = group.id
    session.add(incident)
    if not group.policy and policy:
        # The lead matched no policy, this member does (say, a critical one): the group
        # escalates by it.
        group.policy = policy
        session.add(group)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="group.joined",
        entity_type="incident_group",
        entity_id=str(group.id),
        payload={"incident": incident.id, "lead": group.lead_incident_id},
    )
    # An unacknowledged newcomer reopens an acknowledged group (its escalation restarts).
    refresh_group(session, group, actor=actor, now=utcnow(), maintenance=maintenance)
