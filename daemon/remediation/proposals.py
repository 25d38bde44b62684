"""From a routed incident to a proposed playbook run: the pieces every proposer shares.

`plan_for` asks the routed playbook for a plan against the current state of the data;
`create_run` stores the plan, its sha256 and the route's approval policy as a proposed run.
An `auto` policy approves it at once (recorded as the policy's approval); `human` and
`two_person` wait for people (`warden approve`, Slack, HTTP). A playbook that cannot plan
(nothing to quarantine, a table instead of files...) records why on the incident's timeline
instead (`note_skipped`); a playbook that is not built yet is recorded the same way.

Who plans when: routed incidents go through the proposal queue
(`daemon.remediation.proposal_queue`); the agent through `daemon.agent.service`.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from pathlib import Path

from sqlmodel import Session, col, select

from daemon.config.models import DatasetConfig, WardenConfig
from daemon.incidents.routing import RouteDecision
from daemon.scan.asset_table import open_asset_records
from daemon.scan.datasets import open_dataset
from daemon.store.audit import append_audit
from daemon.store.json_safety import sanitize_json
from daemon.store.models import Approval, Incident, PlaybookRun, RunStatus
from playbooks.base import (
    DatasetLocation,
    IncidentView,
    LabelStudioTarget,
    Plan,
    PlaybookContext,
)
from playbooks.registry import get_playbook

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
            url=_location_url(settings),
            table=settings.table or "",
            time_format=settings.time_format,
            catalog_name=settings.catalog.name if settings.catalog is not None else "",
        ),
        Path(config.playbooks.work_root),
        open_source=(
            partial(open_asset_records, config.store.url, dataset)
            if settings.is_assets
            else partial(open_dataset, dataset, settings)
        ),
        files_root=studio.document_root if studio else "/",
        label_studio=None
        if studio is None
        else LabelStudioTarget(
            studio.url.rstrip("/"),
            studio.token.get_secret_value(),
            studio.project,
            studio.timeout.total_seconds(),
            studio.token_kind,
        ),
    )


def _location_url(settings: DatasetConfig) -> str:
    """The URL a playbook connects to: a table's database, an Iceberg table's catalog."""
    if settings.format in ("postgres", "duckdb"):
        return settings.url or ""
    if settings.catalog is not None:
        return settings.catalog.uri
    return ""


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
        dataset_version=(evidence.get("dataset_version") or {}).get("version"),
    )


def plan_for(config: WardenConfig, incident: Incident, decision: RouteDecision) -> Plan:
    """The plan the routed playbook makes now; raises PlanRefused or KeyError (unknown)."""
    assert decision.playbook is not None
    playbook = get_playbook(decision.playbook)
    params = playbook.parse_params(decision.params)
    return playbook.plan(
        incident_view(incident), params, playbook_context(config, incident.dataset)
    )


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
    """Store a proposed run for `plan` (audited); approve it at once under `auto`.

    The plan is made safe to store first (`sanitize_json`: a control character from the
    data, a path or a row id, becomes visible text) and hashed as stored, so the hash a
    person approves is the hash of what will run."""
    plan = Plan.from_dict(sanitize_json(plan.to_dict()))
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


def has_open_run(session: Session, incident_id: int) -> bool:
    return (
        session.exec(
            select(PlaybookRun.id).where(
                PlaybookRun.incident_id == incident_id,
                col(PlaybookRun.status).in_([s.value for s in OPEN_RUN_STATUSES]),
            )
        ).first()
        is not None
    )


def is_registered(name: str) -> bool:
    try:
        get_playbook(name)
    except KeyError:
        return False
    return True


def note_skipped(session: Session, incident_id: int, actor: str, reason: str) -> None:
    append_audit(
        session,
        actor=actor,
        action="proposal.skipped",
        entity_type="incident",
        entity_id=str(incident_id),
        payload={"reason": reason},
    )
