"""People's decisions on proposed runs: approve or reject, bound to the plan's hash.

The same rules hold whether the decision comes from the CLI, Slack or HTTP:

- A decision is taken under a row lock on the run and only while it is `proposed`, so double
  clicks, retries and two people at once give exactly one decision.
- Approving re-plans first. If what would be done has changed since the proposal (a new
  file, a changed checksum), the hash differs: the old run expires as superseded, a new
  proposal is stored, and the approval is refused, since the person has not seen the new
  plan.
- A proposal expires `playbooks.approval_ttl` after it was made (default 24 h).
- `two_person` needs two approvals by different people; the first is recorded and the run
  stays proposed. An agent's proposal (origin `agent`) always needs a person, never the
  agent or a policy, and not only the person who asked for it (`requested_by`).
- "Different people" are different recorded actors (`slack:U123`, `api:alice`, a CLI login
  such as `alice`), except that names the config's `people:` block gives to one person are
  that one person (`daemon.config.people`): alice approving in Slack and again on the CLI
  or with her API token is refused, with a message naming her. Each approval still records
  the actor it came from.
- Rejecting needs a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlmodel import Session, select

from daemon.config.models import WardenConfig
from daemon.config.people import person_of, same_person
from daemon.incidents.routing import RouteDecision
from daemon.remediation.proposals import create_run, plan_for
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import Approval, Incident, PlaybookRun, RunStatus
from daemon.store.run_status import set_run_status
from daemon.store.types import utcnow
from playbooks.base import Plan, PlanRefused

Decision = Literal["approve", "reject"]


class DecisionRefused(ValueError):
    """A decision that cannot be taken, explained for the person who tried."""


@dataclass(frozen=True)
class DecisionOutcome:
    run_id: int
    status: str
    message: str
    new_run_id: int | None = None


def decide(
    session: Session,
    config: WardenConfig,
    run_id: int,
    decision: Decision,
    *,
    actor: str,
    via: str,
    reason: str | None = None,
    now: datetime | None = None,
    replanned: Plan | PlanRefused | None = None,
) -> DecisionOutcome:
    """Record `actor`'s decision on run `run_id`, or raise DecisionRefused saying why.

    `replanned` is the plan made now (`plan_again`), made before the caller's transaction
    so that reading the data does not hold the store's write lock; without it, approving
    plans inside the transaction."""
    moment = now or utcnow()
    run = session.exec(
        select(PlaybookRun).where(PlaybookRun.id == run_id).with_for_update()
    ).first()
    if run is None:
        raise DecisionRefused(f"there is no run {run_id}; see `warden runs list`")
    if run.status != RunStatus.proposed:
        raise DecisionRefused(f"run {run_id} is {run.status}; only a proposed run can be decided")
    if expires_at(run, config.playbooks.approval_ttl) <= moment:
        set_run_status(
            session, run, RunStatus.expired, actor="policy:ttl", reason="not decided in time"
        )
        return DecisionOutcome(run_id, run.status, f"run {run_id} had expired; nothing was done")
    if decision == "reject":
        if not (reason or "").strip():
            raise DecisionRefused("rejecting needs a reason (--reason)")
        _record(session, run, actor, via, "reject", reason)
        set_run_status(session, run, RunStatus.rejected, actor=actor, reason=reason)
        return DecisionOutcome(run_id, run.status, f"run {run_id} rejected")
    superseded = _supersede_if_changed(session, config, run, actor, replanned)
    if superseded is not None:
        return superseded
    approvals = session.exec(
        select(Approval).where(Approval.run_id == run_id, Approval.decision == "approve")
    ).all()
    _refuse_a_second_approval_by_the_same_person(config, run_id, actor, approvals)
    if run.origin == "agent" and actor.split(":", 1)[0] in ("agent", "policy"):
        raise DecisionRefused(f"run {run_id} was proposed by the agent; a person must approve it")
    _record(session, run, actor, via, "approve", reason)
    needed = approvals_needed(run, [existing.actor for existing in approvals] + [actor])
    if len(approvals) + 1 < needed:
        return DecisionOutcome(
            run_id,
            run.status,
            f"run {run_id}: approval 1 of {needed} recorded; a second person must approve",
        )
    set_run_status(session, run, RunStatus.approved, actor=actor, reason=reason)
    return DecisionOutcome(run_id, run.status, f"run {run_id} approved")


def _refuse_a_second_approval_by_the_same_person(
    config: WardenConfig, run_id: int, actor: str, approvals: Sequence[Approval]
) -> None:
    """Refuse `actor` when they, or a name `people:` gives to the same person, approved
    already; the message names the person and the name they approved under."""
    for existing in approvals:
        if existing.actor == actor:
            person = person_of(config.people, actor)
            who = actor if person is None else f"{person} ({actor})"
            raise DecisionRefused(f"{who} has already approved run {run_id}")
        if same_person(config.people, existing.actor, actor):
            person = person_of(config.people, actor)
            raise DecisionRefused(
                f"{person} has already approved run {run_id} (as {existing.actor}); "
                f"{actor} is {person} too (config `people`), so another person must approve"
            )


def plan_again(store: Store, config: WardenConfig, run_id: int) -> Plan | PlanRefused | None:
    """What run `run_id`'s playbook would do now (None when there is no such proposed run);
    a refusal to plan is returned, not raised. Reads the data outside any write transaction."""
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        incident = session.get(Incident, run.incident_id) if run is not None else None
    if run is None or incident is None or run.status != RunStatus.proposed:
        return None
    try:
        return _replan(config, incident, run)
    except PlanRefused as error:
        return error


def _replan(config: WardenConfig, incident: Incident, run: PlaybookRun) -> Plan:
    decision = RouteDecision(
        rule="replan",
        playbook=run.playbook,
        approval=run.approval_policy,  # type: ignore[arg-type]  # stored as text
        params=run.params,
    )
    return plan_for(config, incident, decision)


def _supersede_if_changed(
    session: Session,
    config: WardenConfig,
    run: PlaybookRun,
    actor: str,
    replanned: Plan | PlanRefused | None,
) -> DecisionOutcome | None:
    """Re-plan; if the plan changed, expire this run, propose the new plan, refuse."""
    incident = session.get(Incident, run.incident_id)
    assert incident is not None
    try:
        if isinstance(replanned, PlanRefused):
            raise replanned
        plan = replanned if replanned is not None else _replan(config, incident, run)
    except PlanRefused as error:
        set_run_status(session, run, RunStatus.expired, actor=actor, reason=f"cannot plan: {error}")
        return DecisionOutcome(
            run.id or 0, run.status, f"run {run.id} can no longer be planned ({error}); it expired"
        )
    if plan.hash == run.plan_hash:
        return None
    bound = config.agent.max_partitions if config.agent is not None else None
    touched = len({step.target for step in plan.steps})
    if run.origin == "agent" and bound is not None and touched > bound:
        reason = f"the plan changed and now touches {touched} files or partitions (bound {bound})"
        set_run_status(session, run, RunStatus.expired, actor=actor, reason=reason)
        return DecisionOutcome(run.id or 0, run.status, f"run {run.id}: {reason}; it expired")
    set_run_status(session, run, RunStatus.expired, actor=actor, reason="the plan changed")
    new = create_run(
        session,
        run.incident_id,
        plan,
        run.approval_policy,
        actor=actor,
        origin=run.origin,
        requested_by=run.requested_by,
    )
    return DecisionOutcome(
        run.id or 0,
        run.status,
        f"the plan of run {run.id} changed since it was proposed (hash {run.plan_hash[:12]} -> "
        f"{plan.hash[:12]}); nothing was approved. Review run {new.id} and approve that.",
        new_run_id=new.id,
    )


def _record(
    session: Session, run: PlaybookRun, actor: str, via: str, decision: str, reason: str | None
) -> None:
    session.add(
        Approval(
            run_id=run.id or 0,
            actor=actor,
            via=via,
            decision=decision,
            plan_hash=run.plan_hash,
            reason=reason,
        )
    )
    append_audit(
        session,
        actor=actor,
        action=f"run.{decision}_recorded",
        entity_type="playbook_run",
        entity_id=str(run.id),
        payload={"plan_hash": run.plan_hash, "via": via, "reason": reason},
    )


def expire_overdue(session: Session, ttl: timedelta, *, now: datetime | None = None) -> list[int]:
    """Expire every proposal older than `ttl` (the daemon sweeps them each minute, so the
    Slack message loses its buttons instead of waiting for a click to find out)."""
    cutoff = (now or utcnow()) - ttl
    overdue = session.exec(
        select(PlaybookRun)
        .where(PlaybookRun.status == RunStatus.proposed, PlaybookRun.created_at <= cutoff)
        .with_for_update(skip_locked=True)
    ).all()
    for run in overdue:
        set_run_status(
            session, run, RunStatus.expired, actor="policy:ttl", reason="not decided in time"
        )
    return [run.id or 0 for run in overdue]


def approvals_needed(run: PlaybookRun, approvers: list[str]) -> int:
    """How many different people must approve `run`: two under `two_person`, and two for
    an agent's proposal a person asked for (never them alone)."""
    needed = 2 if run.approval_policy == "two_person" else 1
    if run.origin == "agent" and run.requested_by not in (None, "agent"):
        # A person asked for it. Their names differ across channels (alice on the CLI,
        # slack:U123 in Slack), so a second person is always needed, not only when the
        # names match.
        needed = 2
    return needed


def expires_at(run: PlaybookRun, ttl: timedelta) -> datetime:
    """When an undecided proposal stops being approvable."""
    return run.created_at + ttl
