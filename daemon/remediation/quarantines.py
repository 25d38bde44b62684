"""Quarantined files: list them, and release them (the quarantine playbook's rollback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.remediation.proposals import playbook_context
from daemon.remediation.work_root import WorkRootOwned, claim_work_root
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import Incident, PlaybookRun, RunStatus
from playbooks.base import Plan
from playbooks.quarantine import read_manifests
from playbooks.registry import get_playbook
from playbooks.versioned.base import TableChanged


class ReleaseRefused(ValueError):
    """A release that cannot be done, explained for a person."""


def list_quarantines(config: WardenConfig) -> list[dict[str, Any]]:
    """Every quarantine's manifest under the configured work root, oldest incident first."""
    return read_manifests(Path(config.playbooks.work_root))


def release(store: Store, config: WardenConfig, incident_id: int, *, actor: str) -> list[dict]:
    """Move the files quarantined for `incident_id` back, byte-identical (audited)."""
    with store.session(readonly=True) as session:
        run = session.exec(
            select(PlaybookRun)
            .where(
                PlaybookRun.incident_id == incident_id,
                PlaybookRun.playbook == "quarantine",
                # a failed run may have moved some files before it stopped
                col(PlaybookRun.status).in_([RunStatus.succeeded, RunStatus.failed]),
            )
            .order_by(col(PlaybookRun.id).desc())
        ).first()
        incident = session.get(Incident, incident_id)
    if run is None or incident is None:
        raise ReleaseRefused(
            f"incident {incident_id} has no completed quarantine; see `warden quarantine list`"
        )
    manifest = next(
        (m for m in list_quarantines(config) if m.get("incident_id") == incident_id), None
    )
    if manifest is not None and manifest.get("status") == "released":
        raise ReleaseRefused(f"the quarantine of incident {incident_id} was released already")
    try:
        claim_work_root(store, config.playbooks.work_root)
    except WorkRootOwned as error:
        raise ReleaseRefused(str(error)) from error
    plan = Plan.from_dict(run.plan)
    try:
        steps = get_playbook("quarantine").rollback(
            plan, playbook_context(config, incident.dataset)
        )
    except TableChanged as error:  # a table's files cannot be committed back
        raise ReleaseRefused(str(error)) from error
    with store.session() as session:
        append_audit(
            session,
            actor=actor,
            action="quarantine.released",
            entity_type="playbook_run",
            entity_id=str(run.id),
            payload={"incident_id": incident_id, "plan_hash": run.plan_hash, "steps": steps},
        )
    return steps
