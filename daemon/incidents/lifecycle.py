"""The incident lifecycle, changed by people (CLI, Slack, HTTP) and by the runner.

    open -> acknowledged -> remediating -> resolved | closed

Every change names its actor and is audited in the same transaction. `resolved` means the
problem is gone (by itself after clean scans, or after a remediation that verified);
`closed` means a person ended it without a fix, with a reason, and optionally as a false
alarm (counted by `warden report`). Both are final: the same problem found again opens a new
incident linked to this one. `remediating -> acknowledged` is the way back when a remediation
fails and a person takes over.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from daemon.incidents.group_lifecycle import refresh_group_of
from daemon.store.audit import append_audit
from daemon.store.models import Incident, IncidentStatus
from daemon.store.run_status import expire_proposals
from daemon.store.types import utcnow

S = IncidentStatus
ALLOWED: dict[str, frozenset[str]] = {
    S.open: frozenset({S.acknowledged, S.remediating, S.resolved, S.closed}),
    S.acknowledged: frozenset({S.remediating, S.resolved, S.closed}),
    S.remediating: frozenset({S.acknowledged, S.resolved, S.closed}),
    S.resolved: frozenset(),
    S.closed: frozenset(),
}


class TransitionRefused(ValueError):
    """A status change that is not allowed, explained for a person."""


def change_status(
    session: Session,
    incident_id: int,
    to: IncidentStatus,
    *,
    actor: str,
    reason: str | None = None,
    false_alarm: bool = False,
    at: datetime | None = None,
) -> Incident:
    """Move incident `incident_id` to `to`, or raise `TransitionRefused` saying why not.

    Closing needs a reason; `false_alarm` only goes with closing. Acknowledging an incident
    twice is refused rather than silently repeated, so the trail shows one acknowledgement.
    """
    incident = session.exec(
        select(Incident).where(Incident.id == incident_id).with_for_update()
    ).first()
    if incident is None:
        raise TransitionRefused(f"there is no incident {incident_id}; see `warden incidents list`")
    current = IncidentStatus(incident.status)
    if to not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "nothing (it is final)"
        raise TransitionRefused(
            f"incident {incident_id} is {current.value}; it cannot become {to.value} "
            f"(from {current.value} it can become: {allowed})"
        )
    if to == S.closed and not (reason or "").strip():
        raise TransitionRefused("closing an incident needs a reason (--reason)")
    if false_alarm and to != S.closed:
        raise TransitionRefused("only closing can mark an incident a false alarm")
    moment = at or utcnow()
    incident.status = to.value
    if to in (S.acknowledged, S.remediating) and incident.acknowledged_at is None:
        # Starting a remediation acknowledges too: somebody (or a rule) is on it.
        incident.acknowledged_at = moment
    if to == S.resolved:
        incident.resolved_at = moment
    if to == S.closed:
        incident.closed_at = moment
        incident.closed_reason = (reason or "")[:200]
        incident.false_alarm = false_alarm
    session.add(incident)
    if to in (S.resolved, S.closed):
        expire_proposals(session, incident_id, actor=actor, reason=f"the incident was {to.value}")
    append_audit(
        session,
        actor=actor,
        action=f"incident.{to.value}",
        entity_type="incident",
        entity_id=str(incident_id),
        payload={
            "from": current.value,
            "to": to.value,
            "reason": reason,
            "false_alarm": false_alarm,
            "at": moment.isoformat(),
        },
    )
    refresh_group_of(session, incident, actor=actor, now=moment)
    return incident
