"""From a routed incident to a proposed playbook run: plan it, store the plan and its hash.

After a scan has recorded its incidents, every incident routed to a playbook and without an
open run (proposed, approved or running) gets one: the playbook plans against the current
state of the data, and the run stores the plan, its sha256 and the route's approval policy.
An `auto` policy approves it at once (recorded as the policy's approval); `human` and
`two_person` wait for people (`warden approve`, Slack, HTTP). A playbook that cannot plan
(nothing to quarantine, a table instead of files...) records why on the incident's timeline
instead; a playbook that is not built yet is recorded the same way.

Planning reads the data (file sizes and checksums), so it runs in its own transaction after
the scan's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from daemon.config.models import WardenConfig
from daemon.datasets import open_dataset
from daemon.routing import RouteDecision
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import Approval, Incident, PlaybookRun, RunStatus
from daemon.store.types import utcnow
from playbooks.base import (
    DatasetLocation,
    IncidentView,
    LabelStudioTarget,
    Plan,
    PlanRefused,
    PlaybookContext,
)
from playbooks.registry import get_playbook

log = logging.getLogger(__name__)

#: Runs that still hold an incident's remediation: no second proposal while one exists.
OPEN_RUN_STATUSES = (RunStatus.proposed, RunStatus.approved, RunStatus.running)
#: The actor of approvals given by an `auto` policy.
POLICY_ACTOR = "policy:auto"


def playbook_context(config: WardenConfig, dataset: str) -> PlaybookContext:
    settings = config.datasets[dataset]
    studio = config.label_studio
    return PlaybookContext(
        DatasetLocation(
            dataset,
            settings.format,
            settings.path or "",
            settings.time_column,
            entity_column=settings.entity_column,
            label_column=settings.roles.label,
            prediction_column=settings.roles.prediction,
            url=(settings.url or "") if settings.format in ("postgres", "duckdb") else "",
            table=settings.table or "",
        ),
        Path(config.playbooks.work_root),
        open_source=partial(open_dataset, dataset, settings),
        label_studio=None
        if studio is None
        else LabelStudioTarget(
            studio.url.rstrip("/"),
            studio.token.get_secret_value(),
            studio.project,
            studio.timeout.total_seconds(),
        ),
    )


def incident_view(incident: Incident) -> IncidentView:
    evidence = incident.evidence or {}
    columns = sorted({f["column"] for f in evidence.get("findings", []) if f.get("column")})
    return IncidentView(
        id=incident.id or 0,
        dataset=incident.dataset,
        pattern=incident.pattern,
        scope=dict(incident.scope or {}),
        columns=tuple(columns),
        windows=dict(evidence.get("windows") or {}),
        findings=tuple(evidence.get("findings") or ()),
    )


def plan_for(config: WardenConfig, incident: Incident, decision: RouteDecision) -> Plan:
    """The plan the routed playbook makes now; raises PlanRefused or KeyError (unknown)."""
    assert decision.playbook is not None
    playbook = get_playbook(decision.playbook)
    params = playbook.parse_params(decision.params)
    return playbook.plan(
        incident_view(incident), params, playbook_context(config, incident.dataset)
    )


def propose_for_incidents(
    store: Store, config: WardenConfig, incident_ids: Iterable[int], *, actor: str = "router"
) -> list[int]:
    """Propose runs for the given incidents (those routed by this scan) where due; returns
    the new run ids."""
    proposed = []
    for incident_id in incident_ids:
        try:
            with store.session() as session:
                run = _propose(session, config, incident_id, actor)
                if run is not None:
                    proposed.append(run.id or 0)
        except Exception as error:
            log.exception("planning a remediation for incident %s failed", incident_id)
            with store.session() as session:
                _note(
                    session,
                    incident_id,
                    actor,
                    f"planning failed: {type(error).__name__}: {error}",
                )
    return proposed


def _propose(
    session: Session, config: WardenConfig, incident_id: int, actor: str
) -> PlaybookRun | None:
    incident = session.exec(
        select(Incident).where(Incident.id == incident_id).with_for_update()
    ).first()
    if incident is None or incident.route is None or incident.silenced_by is not None:
        return None
    decision = RouteDecision.from_dict(incident.route)
    if decision.playbook is None or _has_open_run(session, incident_id):
        return None
    if not _is_registered(decision.playbook):
        _note(session, incident_id, actor, f"playbook {decision.playbook} is not available yet")
        return None
    try:
        plan = plan_for(config, incident, decision)
    except PlanRefused as error:
        _note(session, incident_id, actor, f"{decision.playbook} cannot plan: {error}")
        return None
    return create_run(session, incident_id, plan, decision.approval, actor=actor)


def create_run(
    session: Session,
    incident_id: int,
    plan: Plan,
    approval_policy: str,
    *,
    actor: str,
    origin: str = "rule",
    now: datetime | None = None,
    requested_by: str | None = None,
) -> PlaybookRun:
    """Store a proposed run for `plan` (audited); approve it at once under `auto`."""
    run = PlaybookRun(
        incident_id=incident_id,
        playbook=plan.playbook,
        params=plan.params,
        plan=plan.to_dict(),
        plan_hash=plan.hash,
        origin=origin,
        approval_policy=approval_policy,
        status=RunStatus.proposed,
        requested_by=requested_by,
    )
    if now is not None:
        run.created_at = run.updated_at = now
    session.add(run)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="run.proposed",
        entity_type="playbook_run",
        entity_id=str(run.id),
        payload={
            "incident_id": incident_id,
            "playbook": plan.playbook,
            "plan_hash": plan.hash,
            "summary": plan.summary,
            "approval_policy": approval_policy,
        },
    )
    if approval_policy == "auto" and origin == "rule":
        session.add(
            Approval(
                run_id=run.id or 0,
                actor=POLICY_ACTOR,
                via="policy",
                decision="approve",
                plan_hash=plan.hash,
            )
        )
        run.status = RunStatus.approved
        session.add(run)
        append_audit(
            session,
            actor=POLICY_ACTOR,
            action="run.approved",
            entity_type="playbook_run",
            entity_id=str(run.id),
            payload={"plan_hash": plan.hash, "via": "policy"},
        )
    return run


def _has_open_run(session: Session, incident_id: int) -> bool:
    return (
        session.exec(
            select(PlaybookRun.id).where(
                PlaybookRun.incident_id == incident_id,
                col(PlaybookRun.status).in_([s.value for s in OPEN_RUN_STATUSES]),
            )
        ).first()
        is not None
    )


def _is_registered(name: str) -> bool:
    try:
        get_playbook(name)
    except KeyError:
        return False
    return True


def _note(session: Session, incident_id: int, actor: str, reason: str) -> None:
    append_audit(
        session,
        actor=actor,
        action="proposal.skipped",
        entity_type="incident",
        entity_id=str(incident_id),
        payload={"reason": reason},
    )


def expire_proposals(session: Session, incident_id: int, *, actor: str, reason: str) -> list[int]:
    """Expire the incident's undecided proposals (it resolved or was closed): nobody should
    approve a repair of a problem that is gone. Approved or running runs are left alone."""
    runs = session.exec(
        select(PlaybookRun)
        .where(PlaybookRun.incident_id == incident_id, PlaybookRun.status == RunStatus.proposed)
        .with_for_update()
    ).all()
    for run in runs:
        set_run_status(session, run, RunStatus.expired, actor=actor, reason=reason)
    return [run.id or 0 for run in runs]


def set_run_status(
    session: Session,
    run: PlaybookRun,
    status: RunStatus,
    *,
    actor: str,
    reason: str | None,
    steps: list[dict[str, Any]] | None = None,
) -> None:
    """Change a run's status, audited in the caller's transaction; a finished run's audit
    event carries its step log (every step applied and undone)."""
    previous, run.status, run.updated_at = run.status, status.value, utcnow()
    session.add(run)
    payload: dict[str, Any] = {"from": previous, "to": status.value, "reason": reason}
    if steps is not None:
        payload["steps"] = steps
    append_audit(
        session,
        actor=actor,
        action=f"run.{status.value}",
        entity_type="playbook_run",
        entity_id=str(run.id),
        payload=payload,
    )
