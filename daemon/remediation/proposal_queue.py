"""The proposal queue: incidents routed to a playbook wait here to be planned.

The scan that routes an incident to a playbook only records a `ProposalRequest` in its own
transaction (`daemon.incidents.incidents`). Planning reads the data and can take a while, so
it happens here, afterwards, in steps that survive a crash at any point:

1. **claim** (one transaction): the oldest due `pending` request, or a `planning` one whose
   planner is gone, becomes `planning` for this planner (`claimed_by`, `claimed_at`;
   `attempts` counts claims, so a plan that kills its process every time still runs out of
   attempts). PostgreSQL replicas skip each other's locked rows (`SKIP LOCKED`).
2. **plan** (no transaction open): the routed playbook plans against the data.
3. **record** (one transaction): if the claim is still ours, the proposed run and the
   request's `proposed` status commit together, so a request is never proposed twice and a
   proposal is never left without its request marked.

A planner is gone when its claim is older than `playbooks.stale_run_after`, when its daemon
has stopped, or when it ran on this host and its process no longer exists. A failed plan
is retried with exponential backoff (`proposal_requests.retry_delay`) up to `MAX_ATTEMPTS`
claims; every failure is an audit event on the incident's timeline
(`proposal.failed`). A playbook that refuses to plan (`PlanRefused`: nothing to quarantine,
an empty window, bad parameters) is final and recorded as `proposal.skipped`, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlmodel import Session, col, or_, select

from daemon.config.models import WardenConfig
from daemon.crash_points import stop_if_asked
from daemon.incidents.routing import RouteDecision
from daemon.remediation.proposal_requests import (
    MAX_ATTEMPTS,
    PlanningOutcome,
    audit_failure,
    move,
    retry_delay,
)
from daemon.remediation.proposals import (
    create_run,
    has_open_run,
    is_registered,
    note_skipped,
    plan_for,
)
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.identities import Claimant
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    DaemonInstance,
    Incident,
    ProposalRequest,
    ProposalStatus,
)
from daemon.store.types import utcnow
from playbooks.base import Plan, PlanRefused

log = logging.getLogger(__name__)

#: The actor of proposals made from routes.
ROUTER = "router"


def plan_pending(
    store: Store,
    config: WardenConfig,
    *,
    identity: str,
    incident_ids: Iterable[int] | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[PlanningOutcome]:
    """Claim and plan due requests (only those of `incident_ids` when given) until none is
    left or `keep_going()` says stop; returns what became of each."""
    wanted = None if incident_ids is None else sorted(set(incident_ids))
    if wanted == []:
        return []
    stale_after = config.playbooks.stale_run_after
    outcomes = []
    while keep_going():
        request_id = claim_next(store, identity=identity, stale_after=stale_after, only=wanted)
        if request_id is None:
            break
        outcomes.append(plan_one(store, config, request_id, identity=identity))
    return outcomes


def claim_next(
    store: Store,
    *,
    identity: str,
    stale_after: timedelta,
    only: list[int] | None = None,
) -> int | None:
    """Claim the oldest due request, or one whose planner is gone; its id, or None."""
    with store.session() as session:
        now = utcnow()
        query = (
            select(ProposalRequest)
            .where(
                or_(
                    (col(ProposalRequest.status) == ProposalStatus.pending)
                    & (col(ProposalRequest.next_attempt_at) <= now),
                    col(ProposalRequest.status) == ProposalStatus.planning,
                )
            )
            .order_by(col(ProposalRequest.id))
            .with_for_update(skip_locked=True)
        )
        if only is not None:
            query = query.where(col(ProposalRequest.incident_id).in_(only))
        stopped = _stopped_identities(session)
        for request in session.exec(query).all():
            if request.status == ProposalStatus.planning and not _planner_gone(
                request, now, stale_after, stopped, identity
            ):
                continue
            previous = request.claimed_by if request.status == ProposalStatus.planning else None
            if request.attempts >= MAX_ATTEMPTS:
                # Every claim so far died with its planner: stop trying.
                _give_up(session, request, now, identity, "its planner stopped each time")
                continue
            move(request, ProposalStatus.planning, now=now)
            request.claimed_by, request.claimed_at = identity, now
            request.attempts += 1
            session.add(request)
            if previous is not None:
                append_audit(
                    session,
                    actor=identity,
                    action="proposal.taken_over",
                    entity_type="incident",
                    entity_id=str(request.incident_id),
                    payload={"request_id": request.id, "from": previous},
                )
            return request.id
    return None


def plan_one(
    store: Store, config: WardenConfig, request_id: int, *, identity: str
) -> PlanningOutcome:
    """Plan one claimed request and record the outcome (see the module docstring)."""
    stop_if_asked("proposal.claimed")
    with store.session(readonly=True) as session:
        request = session.get(ProposalRequest, request_id)
        assert request is not None
        incident = session.get(Incident, request.incident_id)
        assert incident is not None
        session.expunge(incident)
    reason = _why_not_plan(incident)
    decision = RouteDecision.from_dict(incident.route) if incident.route else None
    plan: Plan | None = None
    error: Exception | None = None
    if reason is None and decision is not None:
        try:
            plan = plan_for(config, incident, decision)
        except (PlanRefused, KeyError) as refused:
            error = refused
        except Exception as failure:  # any playbook bug or unreachable source: retried
            log.exception("planning incident %s failed", incident.id)
            error = failure
    stop_if_asked("proposal.planned")
    with store.session() as session:
        outcome = _record(session, request_id, identity, decision, plan, error, reason)
    stop_if_asked("proposal.recorded")
    return outcome


def _why_not_plan(incident: Incident) -> str | None:
    """Why an incident no longer wants planning; None when it does."""
    if incident.status not in ACTIVE_INCIDENT_STATUSES:
        return f"the incident is {incident.status}"
    if incident.silenced_by is not None:
        return f"the incident is silenced by {incident.silenced_by}"
    decision = RouteDecision.from_dict(incident.route) if incident.route else None
    if decision is None or decision.playbook is None:
        return "the incident's route names no playbook"
    return None


def _record(
    session: Session,
    request_id: int,
    identity: str,
    decision: RouteDecision | None,
    plan: Plan | None,
    error: Exception | None,
    reason: str | None,
) -> PlanningOutcome:
    now = utcnow()
    request = session.get(ProposalRequest, request_id, with_for_update=True)
    assert request is not None
    incident_id = request.incident_id

    def outcome(status: str, message: str, run_id: int | None = None) -> PlanningOutcome:
        return PlanningOutcome(request_id, incident_id, status, run_id, message)

    if request.status != ProposalStatus.planning or request.claimed_by != identity:
        # Presumed gone while planning: the planner that took over records the outcome.
        return outcome(request.status, f"taken over by {request.claimed_by}")
    incident = session.exec(
        select(Incident).where(Incident.id == incident_id).with_for_update()
    ).first()
    assert incident is not None
    # Read again under the lock: the incident may have resolved while we planned.
    reason = reason or _why_not_plan(incident)
    if reason is None and has_open_run(session, incident_id):
        reason = "the incident already has an open run"
    if reason is not None:
        move(request, ProposalStatus.cancelled, now=now)
        request.last_error = reason
        session.add(request)
        return outcome(ProposalStatus.cancelled, reason)
    assert decision is not None and decision.playbook is not None
    if isinstance(error, KeyError) or not is_registered(decision.playbook):
        message = f"playbook {decision.playbook} is not available yet"
        return _refuse(session, request, now, ROUTER, message, outcome)
    if isinstance(error, PlanRefused):
        message = f"{decision.playbook} cannot plan: {error}"
        return _refuse(session, request, now, ROUTER, message, outcome)
    if error is not None or plan is None:
        return _failed(session, request, now, identity, error, outcome)
    run = create_run(session, incident_id, plan, decision.approval, actor=ROUTER)
    move(request, ProposalStatus.proposed, now=now)
    request.run_id, request.last_error = run.id, None
    session.add(request)
    return outcome(ProposalStatus.proposed, f"proposed run {run.id} ({plan.playbook})", run.id)


def _refuse(
    session: Session,
    request: ProposalRequest,
    now: datetime,
    actor: str,
    message: str,
    outcome: Callable[..., PlanningOutcome],
) -> PlanningOutcome:
    move(request, ProposalStatus.refused, now=now)
    request.last_error = message
    session.add(request)
    note_skipped(session, request.incident_id, actor, message)
    return outcome(ProposalStatus.refused, message)


def _failed(
    session: Session,
    request: ProposalRequest,
    now: datetime,
    identity: str,
    error: Exception | None,
    outcome: Callable[..., PlanningOutcome],
) -> PlanningOutcome:
    detail = f"{type(error).__name__}: {error}" if error is not None else "no plan"
    if request.attempts >= MAX_ATTEMPTS:
        _give_up(session, request, now, identity, detail)
        return outcome(ProposalStatus.failed, f"planning failed for good: {detail}")
    retry_at = now + retry_delay(request.attempts)
    move(request, ProposalStatus.pending, now=now)
    request.next_attempt_at, request.last_error = retry_at, detail
    request.claimed_by = request.claimed_at = None
    session.add(request)
    audit_failure(session, request, identity, detail, retry_at)
    return outcome(
        ProposalStatus.pending, f"planning failed ({detail}); retried at {retry_at.isoformat()}"
    )


def _give_up(
    session: Session, request: ProposalRequest, now: datetime, identity: str, detail: str
) -> None:
    move(request, ProposalStatus.failed, now=now)
    request.last_error = detail
    session.add(request)
    audit_failure(session, request, identity, detail, None)


def _stopped_identities(session: Session) -> set[str]:
    return set(
        session.exec(
            select(DaemonInstance.identity).where(col(DaemonInstance.stopped_at).is_not(None))
        ).all()
    )


def _planner_gone(
    request: ProposalRequest,
    now: datetime,
    stale_after: timedelta,
    stopped: set[str],
    identity: str,
) -> bool:
    owner = request.claimed_by or ""
    if owner == identity:
        return False  # our own claim, being planned by another thread of this process
    if request.claimed_at is None or request.claimed_at < now - stale_after:
        return True
    return owner in stopped or Claimant.parse(owner).died_here()
