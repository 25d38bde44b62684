"""Executing approved playbook runs: claim, apply, verify, then resolve, or roll back and
escalate.

- **Claim**: one approved run at a time, under `SELECT ... FOR UPDATE SKIP LOCKED` on
  PostgreSQL (replicas never claim the same run; SQLite's single writer serialises claims).
  The run becomes `running` and its incident `remediating`, in one audited transaction. An
  approved run whose incident has meanwhile resolved or closed expires instead.
- **Apply**: the stored plan, checked against its stored hash first (what runs is what was
  approved). Playbook steps are idempotent, so a run interrupted by a crash is finished by
  running it again (the daemon's reconciler will do that for stale heartbeats).
- **Verify**: the incident's monitor is evaluated again at the incident's latest scan time.
  The run is verified when the incident's pattern is no longer found for its scope. An
  empty window (`insufficient_data`) counts as verified, since the bad data is out of it.
- **Outcome**: verified means the run `succeeded` and the incident is resolved. A failed
  apply or verification means the playbook rolls back, the run is `rolled_back` (or
  `failed` when the rollback fails too), and the incident goes back to `acknowledged` for a
  person, with the reason on its timeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.lifecycle import change_status
from daemon.proposals import playbook_context, set_run_status
from daemon.scan.evaluators import ScanContext
from daemon.scan.runner import evaluate
from daemon.store.engine import Store
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    Incident,
    IncidentStatus,
    PlaybookRun,
    RunStatus,
)
from daemon.store.types import utcnow
from detectors.results import Status
from playbooks.base import Plan, Playbook, PlaybookContext
from playbooks.registry import get_playbook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    status: str
    message: str


def execute_approved(store: Store, config: WardenConfig, *, identity: str) -> list[RunOutcome]:
    """Claim and execute approved runs until none is left; returns what happened to each."""
    outcomes = []
    while (run_id := claim_next(store, identity=identity)) is not None:
        outcomes.append(execute(store, config, run_id, identity=identity))
    return outcomes


def claim_next(store: Store, *, identity: str) -> int | None:
    """Mark the oldest approved run `running` and return its id; None when there is none."""
    while True:
        with store.session() as session:
            run = session.exec(
                select(PlaybookRun)
                .where(PlaybookRun.status == RunStatus.approved)
                .order_by(PlaybookRun.id)  # type: ignore[arg-type]
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if run is None:
                return None
            incident = session.get(Incident, run.incident_id)
            assert incident is not None
            if incident.status not in ACTIVE_INCIDENT_STATUSES:
                set_run_status(
                    session,
                    run,
                    RunStatus.expired,
                    actor=identity,
                    reason=f"incident is {incident.status}",
                )
                continue  # this one is done with; look for the next
            now = utcnow()
            run.claimed_by, run.heartbeat_at = identity, now
            set_run_status(session, run, RunStatus.running, actor=identity, reason=None)
            if incident.status != IncidentStatus.remediating:
                change_status(
                    session,
                    incident.id or 0,
                    IncidentStatus.remediating,
                    actor=identity,
                    reason=f"run {run.id} ({run.playbook}) started",
                )
            return run.id


def execute(store: Store, config: WardenConfig, run_id: int, *, identity: str) -> RunOutcome:
    """Apply a claimed (`running`) run, verify it and record the outcome."""
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        assert run is not None and run.status == RunStatus.running, run
        incident = session.get(Incident, run.incident_id)
        assert incident is not None
    plan = Plan.from_dict(run.plan)
    if plan.hash != run.plan_hash:
        return _finish(
            store,
            run,
            incident,
            RunStatus.failed,
            identity,
            "the stored plan does not match the approved hash; nothing was done",
            [],
        )
    playbook = get_playbook(run.playbook)
    context = playbook_context(config, incident.dataset)
    steps: list[dict[str, Any]] = []
    try:
        steps = playbook.apply(plan, context)
    except Exception as error:
        log.exception("run %s failed while applying", run_id)
        failure = f"apply failed: {type(error).__name__}: {error}"
    else:
        verified, detail = verify(config, store, incident)
        if verified:
            return _finish(store, run, incident, RunStatus.succeeded, identity, detail, steps)
        failure = f"verification failed: {detail}"
    return _roll_back(store, run, incident, (playbook, plan, context), identity, failure, steps)


def verify(config: WardenConfig, store: Store, incident: Incident) -> tuple[bool, str]:
    """Evaluate the incident's monitor again at its latest scan time (no incident changes)."""
    try:
        monitor = config.monitor(incident.monitor)
    except KeyError:
        return False, f"monitor {incident.monitor!r} is no longer in the config"
    at = incident.last_checked_at or incident.last_seen
    result = evaluate(ScanContext(config, monitor, at, store)).result
    if result.status == Status.error:
        return False, f"the monitor could not be evaluated: {result.message}"
    if result.status == Status.insufficient_data:
        return True, "the affected window holds no data any more"
    scope = incident.scope or {}
    still = [
        finding
        for finding in result.alerts
        if finding.pattern == incident.pattern
        and all(finding.details.get(key) == value for key, value in scope.items())
    ]
    if still:
        columns = ", ".join(sorted({f.column or "-" for f in still}))
        return False, f"{incident.pattern} is still found ({columns})"
    return True, f"{incident.pattern} is no longer found at {at.isoformat()}"


def _roll_back(
    store: Store,
    run: PlaybookRun,
    incident: Incident,
    unit: tuple[Playbook, Plan, PlaybookContext],
    identity: str,
    reason: str,
    steps: list[dict[str, Any]],
) -> RunOutcome:
    playbook, plan, context = unit
    try:
        undone = playbook.rollback(plan, context)
    except Exception as error:
        log.exception("run %s could not be rolled back", run.id)
        return _finish(
            store,
            run,
            incident,
            RunStatus.failed,
            identity,
            f"{reason}; the rollback failed too ({type(error).__name__}: {error}): "
            "check the data by hand",
            steps,
        )
    return _finish(store, run, incident, RunStatus.rolled_back, identity, reason, steps + undone)


def _finish(
    store: Store,
    run: PlaybookRun,
    incident: Incident,
    status: RunStatus,
    identity: str,
    message: str,
    steps: list[dict[str, Any]],
) -> RunOutcome:
    with store.session() as session:
        current = session.exec(
            select(PlaybookRun).where(PlaybookRun.id == run.id).with_for_update()
        ).one()
        current.step_log = list(steps)
        current.error = None if status == RunStatus.succeeded else message
        set_run_status(session, current, status, actor=identity, reason=message)
        latest = session.get(Incident, incident.id)
        if latest is None or latest.status != IncidentStatus.remediating:
            # Someone changed the incident while the run went on: leave it as they set it.
            return RunOutcome(run.id or 0, status.value, message)
        if status == RunStatus.succeeded:
            change_status(
                session,
                incident.id or 0,
                IncidentStatus.resolved,
                actor=identity,
                reason=f"run {run.id} ({run.playbook}) verified: {message}",
            )
        else:
            change_status(
                session,
                incident.id or 0,
                IncidentStatus.acknowledged,
                actor=identity,
                reason=f"run {run.id} ({run.playbook}) {status.value}: {message}; "
                "a person must take over",
            )
    return RunOutcome(run.id or 0, status.value, message)
