"""Executing approved playbook runs: claim, apply, verify, then resolve, or roll back and
escalate.

- **Claim**: one run at a time, under `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL
  (replicas never claim the same run; SQLite's single writer serialises claims): the oldest
  approved run, or a `running` one whose worker stopped reporting (`stale_run_after`: it
  crashed or was killed) or whose daemon is known to have stopped (`daemon_instance`).
  The run becomes `running` and its incident `remediating`, in one audited transaction.
  An approved run whose incident has meanwhile resolved or closed expires instead.
- **Apply**: the stored plan, checked against its stored hash first (what runs is what was
  approved), applied in a child process (`run_worker.py`) while the parent keeps the run's
  heartbeat and stops the child at `run_timeout`. The run's phase (`applying`,
  `verifying`, `rolling_back`) is stored as it moves (`run_phases.py`) and the heartbeat
  kept in each, so a run taken over after a crash resumes its phase: it is applied again
  (steps are idempotent) only if it was still applying, never during or after a rollback.
- **Verify**: the playbook's own check when it has one (a label batch, a synthetic
  partition); otherwise the incident's monitor is evaluated again at the incident's latest
  scan time, and the run is verified when the incident's pattern is no longer found for its
  scope. An empty window (`insufficient_data`) counts as verified: the bad data is out of it.
- **Outcome**: verified means the run `succeeded`; the incident is resolved, or handed back
  to a person (`acknowledged`) when the playbook does not fix the data itself (a label
  batch waits for labels). A failed apply, a timeout or a failed verification means the
  playbook rolls back, the run is `rolled_back` (or `failed` when the rollback fails too),
  and the incident goes back to `acknowledged` for a person, with the reason on its
  timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.crash_points import pause_if_asked, stop_if_asked
from daemon.incidents.lifecycle import change_status
from daemon.remediation.proposals import playbook_context
from daemon.remediation.run_phases import enter_phase, keep_heartbeat, update_if_held
from daemon.remediation.run_worker import ApplyFailed, ClaimLost, apply_in_child
from daemon.remediation.verification import verify_run
from daemon.remediation.work_root import WorkRootOwned, claim_work_root
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    DaemonInstance,
    Incident,
    IncidentStatus,
    PlaybookRun,
    RunPhase,
    RunStatus,
)
from daemon.store.run_status import set_run_status
from daemon.store.types import utcnow
from playbooks.base import Plan, Playbook, PlaybookContext
from playbooks.registry import get_playbook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    status: str
    message: str


def execute_approved(
    store: Store,
    config: WardenConfig,
    *,
    identity: str,
    keep_going: Callable[[], bool] = lambda: True,
) -> list[RunOutcome]:
    """Claim and execute approved (or abandoned) runs until none is left, or until
    `keep_going()` says stop (the daemon is shutting down); returns what happened to each."""
    outcomes = []
    stale_after = config.playbooks.stale_run_after
    while (
        keep_going()
        and (run_id := claim_next(store, identity=identity, stale_after=stale_after)) is not None
    ):
        outcomes.append(execute(store, config, run_id, identity=identity))
    return outcomes


def claim_next(store: Store, *, identity: str, stale_after: timedelta) -> int | None:
    """Mark the oldest approved run, or an abandoned running one (no heartbeat for
    `stale_after`), `running` for `identity` and return its id; None when there is none."""
    while True:
        with store.session() as session:
            cutoff = utcnow() - stale_after
            run = session.exec(
                select(PlaybookRun)
                .where(
                    or_(
                        col(PlaybookRun.status) == RunStatus.approved,
                        and_(
                            col(PlaybookRun.status) == RunStatus.running,
                            or_(
                                col(PlaybookRun.heartbeat_at).is_(None),
                                col(PlaybookRun.heartbeat_at) < cutoff,
                                # Its daemon stopped (or was presumed dead): no need to
                                # wait for the heartbeat to age.
                                col(PlaybookRun.claimed_by).in_(
                                    select(DaemonInstance.identity).where(
                                        col(DaemonInstance.stopped_at).is_not(None)
                                    )
                                ),
                            ),
                        ),
                    )
                )
                .order_by(PlaybookRun.id)  # type: ignore[arg-type]
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if run is None:
                return None
            if run.status == RunStatus.running:
                _take_over(session, run, identity)
                return run.id
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
            run.phase = RunPhase.applying.value
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


def _take_over(session: Any, run: PlaybookRun, identity: str) -> None:
    """Claim a running run whose worker stopped reporting; audited."""
    previous, silent_since = run.claimed_by, run.heartbeat_at
    run.claimed_by, run.heartbeat_at, run.updated_at = identity, utcnow(), utcnow()
    session.add(run)
    append_audit(
        session,
        actor=identity,
        action="run.taken_over",
        entity_type="playbook_run",
        entity_id=str(run.id),
        payload={
            "from_worker": previous,
            "last_heartbeat": silent_since.isoformat() if silent_since else None,
            "phase": run.phase,
            "reason": "its worker stopped reporting; the run resumes the phase it was in "
            "(applying again only while applying)",
        },
    )


def heartbeat(store: Store, run_id: int, identity: str) -> bool:
    """Record that `identity` still works on the run; False when it no longer holds it."""
    with store.session() as session:
        return update_if_held(session, run_id, identity, heartbeat_at=utcnow())


def execute(store: Store, config: WardenConfig, run_id: int, *, identity: str) -> RunOutcome:
    """Carry a claimed (`running`) run through its phases from the one it is in (a run
    taken over resumes where its last worker stopped: `run_phases.py`) and record the
    outcome."""
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        assert run is not None and run.status == RunStatus.running, run
        incident = session.get(Incident, run.incident_id)
        assert incident is not None
    if not heartbeat(store, run_id, identity):
        message = f"run {run_id} is held by {run.claimed_by}, not {identity}; nothing done"
        return RunOutcome(run_id, run.status, message)
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
    try:
        claim_work_root(store, config.playbooks.work_root)
    except WorkRootOwned as error:
        return _finish(
            store, run, incident, RunStatus.failed, identity, f"nothing was done: {error}", []
        )
    unit = (get_playbook(run.playbook), plan, playbook_context(config, incident.dataset))
    phase = RunPhase(run.phase or RunPhase.applying)
    steps: list[dict[str, Any]] = list(run.step_log or [])
    settings = config.playbooks
    interval = min(5.0, settings.stale_run_after.total_seconds() / 4)
    beat = partial(heartbeat, store, run_id, identity)
    lost = RunOutcome(run_id, RunStatus.running.value, "another worker took the run over")
    failure = run.error or "the run was rolling back when its worker stopped"
    if phase == RunPhase.applying:
        try:
            steps = apply_in_child(
                run.playbook,
                plan,
                unit[2],
                timeout_seconds=settings.run_timeout.total_seconds(),
                heartbeat=beat,
                interval=interval,
                on_step=lambda step: record_step(store, run_id, identity, step),
            )
        except ClaimLost as error:
            log.warning("run %s: %s", run_id, error)
            return lost
        except ApplyFailed as error:
            log.error("run %s failed while applying: %s", run_id, error)
            phase, failure = RunPhase.rolling_back, f"apply failed: {error}"
        else:
            phase = RunPhase.verifying
        if not enter_phase(store, run_id, identity, phase, steps=steps, reason=failure):
            return lost
        stop_if_asked(f"run.{phase.value}")
    if phase == RunPhase.verifying:
        with keep_heartbeat(beat, interval) as kept:
            pause_if_asked("run.verifying")  # tests: a verify longer than stale_run_after
            verified, detail = verify_run(config, store, incident, unit)
        if kept.lost:
            return lost
        stop_if_asked("run.verified")
        if verified:
            return _finish(
                store,
                run,
                incident,
                RunStatus.succeeded,
                identity,
                detail,
                steps,
                resolves=unit[0].resolves_incident,
            )
        failure = f"verification failed: {detail}"
        if not enter_phase(
            store, run_id, identity, RunPhase.rolling_back, steps=steps, reason=failure
        ):
            return lost
        stop_if_asked("run.rolling_back")
    with keep_heartbeat(beat, interval) as kept:
        outcome = _roll_back(store, run, incident, unit, identity, failure, steps)
    return outcome


def record_step(store: Store, run_id: int, identity: str, step: dict[str, Any]) -> None:
    """Audit one step as it completes (`run.step`), so people follow a run while it goes on
    (the Slack thread gets a reply per step); the finished run's event repeats the log."""
    with store.session() as session:
        append_audit(
            session,
            actor=identity,
            action="run.step",
            entity_type="playbook_run",
            entity_id=str(run_id),
            payload={"step": step},
        )


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
    reported: list[dict[str, Any]] = []

    def report(step: dict[str, Any]) -> None:
        reported.append(step)
        record_step(store, run.id or 0, identity, step)
        stop_if_asked("run.rollback_step")

    try:
        undone = playbook.rollback(plan, replace(context, on_step=report))
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
    if not reported:  # a playbook that does not report its rollback steps as they go
        for step in undone:
            record_step(store, run.id or 0, identity, step)
    return _finish(store, run, incident, RunStatus.rolled_back, identity, reason, steps + undone)


def _finish(
    store: Store,
    run: PlaybookRun,
    incident: Incident,
    status: RunStatus,
    identity: str,
    message: str,
    steps: list[dict[str, Any]],
    *,
    resolves: bool = True,
) -> RunOutcome:
    with store.session() as session:
        current = session.exec(
            select(PlaybookRun).where(PlaybookRun.id == run.id).with_for_update()
        ).one()
        if current.claimed_by != identity or current.status != RunStatus.running:
            # Taken over while this worker looked dead: the new holder records the outcome.
            log.warning(
                "run %s is now held by %s; %s records nothing", run.id, current.claimed_by, identity
            )
            return RunOutcome(
                run.id or 0, current.status, f"run is now held by {current.claimed_by}"
            )
        current.step_log = list(steps)
        current.phase = None
        current.error = None if status == RunStatus.succeeded else message
        set_run_status(session, current, status, actor=identity, reason=message, steps=steps)
        latest = session.get(Incident, incident.id)
        if latest is None or latest.status != IncidentStatus.remediating:
            # Someone changed the incident while the run went on: leave it as they set it.
            return RunOutcome(run.id or 0, status.value, message)
        if status == RunStatus.succeeded and not resolves:
            change_status(
                session,
                incident.id or 0,
                IncidentStatus.acknowledged,
                actor=identity,
                reason=f"run {run.id} ({run.playbook}) done: {message}; resolve the incident "
                "when the follow-up is complete",
            )
        elif status == RunStatus.succeeded:
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
