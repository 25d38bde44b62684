"""Fire the escalation steps that are due, each exactly once across replicas.

The daemon's `escalate` job calls `fire_due` every few seconds. For each group that is not
closed and has a policy, in its own transaction: lock the group, bring its state in line
with its members (`refresh_group`: acknowledged? closed? every open member silenced?), ask
`due_firings` what is due, and fire each by *inserting* its `EscalationFiring` row (unique
per group, generation, step and reminder) together with the audit event
`escalation.step_fired`. A replica that finds the same step due loses the insert and
skips it; a crash before the commit fires nothing, so the next pass fires it. What a step
*does* (a page, a Slack post) is written by the Slack and PagerDuty audit hooks in that
same transaction, as outbox rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from daemon.config.models import WardenConfig
from daemon.config.oncall import EscalationPolicy
from daemon.incidents.escalation import (
    REMINDER,
    EscalationState,
    Firing,
    Step,
    due_firings,
)
from daemon.incidents.group_lifecycle import (
    all_open_covered,
    refresh_group,
    status_from_members,
)
from daemon.incidents.silences import active_silences
from daemon.store.audit import append_audit, lock_audit_chain
from daemon.store.engine import Store
from daemon.store.models import Incident
from daemon.store.oncall_models import EscalationFiring, IncidentGroup
from daemon.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    """One firing made by this pass."""

    group_id: int
    policy: str
    step: int
    reminder: int
    action: str


def fire_due(
    store: Store, config: WardenConfig, *, identity: str, now: datetime | None = None
) -> list[Fired]:
    """Fire every due step of every open group at `now` (default: the clock)."""
    moment = now or utcnow()
    policies = {policy.name: policy for policy in config.escalations}
    group_ids = _needing_attention(store, config, policies, moment)
    fired: list[Fired] = []
    for group_id in group_ids:
        try:
            with store.session() as session:
                made = _fire_group(session, group_id or 0, policies, config, identity, moment)
            fired.extend(made)  # committed
        except Exception:  # one group's failure must not hold back the others
            log.exception("escalation of group %s failed; retried at the next pass", group_id)
    return fired


def _needing_attention(
    store: Store, config: WardenConfig, policies: dict[str, EscalationPolicy], now: datetime
) -> list[int]:
    """The open groups with something to do at `now`: a state to change (acknowledged,
    closed, held, resumed) or a step due. Read in three queries without a lock, so a quiet
    pass (the usual one) costs the store almost nothing and never waits on a scan; each
    group found is then locked and checked again by `_fire_group`."""
    with store.session(readonly=True) as session:
        groups = session.exec(
            select(IncidentGroup)
            .where(IncidentGroup.status != "closed", IncidentGroup.policy != "")
            .order_by(col(IncidentGroup.id))
        ).all()
        if not groups:
            return []
        members: dict[int, list[Incident]] = {}
        for incident in session.exec(
            select(Incident)
            .join(IncidentGroup, col(IncidentGroup.id) == col(Incident.group_id))
            .where(IncidentGroup.status != "closed", IncidentGroup.policy != "")
        ).all():
            members.setdefault(incident.group_id or 0, []).append(incident)
        done: dict[int, set[tuple[int, int]]] = {}
        for firing in session.exec(
            select(EscalationFiring)
            .join(IncidentGroup, col(IncidentGroup.id) == col(EscalationFiring.group_id))
            .where(
                IncidentGroup.status != "closed",
                col(EscalationFiring.generation) == col(IncidentGroup.generation),
            )
        ).all():
            done.setdefault(firing.group_id, set()).add((firing.step, firing.reminder))
        silences = active_silences(session, now)
    wanted = []
    for group in groups:
        own = members.get(group.id or 0, [])
        held = all_open_covered(own, silences, config.maintenance, now)
        policy = policies.get(group.policy)
        if policy is None:
            _warn_unknown_policy(group.policy)
        if (
            status_from_members(own) != group.status
            or held != (group.held_since is not None)
            or (policy is not None and _due(group, policy, done.get(group.id or 0, set()), now))
        ):
            wanted.append(group.id or 0)
    return wanted


_warned: set[str] = set()


def _warn_unknown_policy(name: str) -> None:
    """Once per process: groups of a policy the config no longer has do not escalate."""
    if name not in _warned:
        _warned.add(name)
        log.warning(
            "escalation policy %r is no longer configured: its open groups do not escalate", name
        )


def _due(
    group: IncidentGroup, policy: EscalationPolicy, done: set[tuple[int, int]], now: datetime
) -> list[Firing]:
    steps = [Step(step.after, step.action, step.until) for step in policy.steps]
    return due_firings(_state(group), steps, policy.remind_every, done, now)


def _fire_group(
    session: Session,
    group_id: int,
    policies: dict[str, EscalationPolicy],
    config: WardenConfig,
    identity: str,
    now: datetime,
) -> list[Fired]:
    # The audit chain's lock before the group's: the order every audited change takes them
    # (a scan audits, then joins a group), so the two never deadlock on PostgreSQL.
    lock_audit_chain(session)
    group = session.exec(
        select(IncidentGroup).where(IncidentGroup.id == group_id).with_for_update()
    ).first()
    if group is None:
        return []
    refresh_group(session, group, actor=identity, now=now, maintenance=config.maintenance)
    policy = policies.get(group.policy)
    if group.status == "closed" or policy is None:
        return []
    done = {
        (row.step, row.reminder)
        for row in session.exec(
            select(EscalationFiring).where(
                EscalationFiring.group_id == group_id,
                EscalationFiring.generation == group.generation,
            )
        ).all()
    }
    due = _due(group, policy, done, now)
    return [
        made
        for firing in due
        if (made := _fire(session, group, policy, firing, identity, now)) is not None
    ]


def _state(group: IncidentGroup) -> EscalationState:
    status = {"open": "escalating", "acknowledged": "acknowledged", "closed": "ended"}[group.status]
    if status == "escalating" and group.held_since is not None:
        status = "held"
    return EscalationState(
        status,
        started_at=group.escalation_started_at,
        held_seconds=group.held_seconds,
        held_since=group.held_since,
        acknowledged_at=group.acknowledged_at,
    )


def _fire(
    session: Session,
    group: IncidentGroup,
    policy: EscalationPolicy,
    firing: Firing,
    identity: str,
    now: datetime,
) -> Fired | None:
    step = policy.steps[firing.step] if firing.step != REMINDER else None
    action = step.action if step is not None else "remind"
    row = EscalationFiring(
        group_id=group.id or 0,
        generation=group.generation,
        step=firing.step,
        reminder=firing.reminder,
        policy=policy.name,
        action=action,
        fired_at=now,
        fired_by=identity,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # another replica fired it
    append_audit(
        session,
        actor=identity,
        action="escalation.step_fired",
        entity_type="incident_group",
        entity_id=str(group.id),
        payload={
            "policy": policy.name,
            "step": firing.step,
            "reminder": firing.reminder,
            "action": action,
            "after": step.after.total_seconds() if step is not None else None,
            "channel": step.notify if step is not None else None,
            "mention": step.mention if step is not None else None,
            "generation": group.generation,
            "firing": row.id,
            "at": now.isoformat(),
        },
    )
    return Fired(group.id or 0, policy.name, firing.step, firing.reminder, action)
