"""A playbook run's status changes, each audited in the caller's transaction. They sit under
the store because both incidents (a resolved incident expires its proposals) and remediation
(approve, run, finish) change a run's status."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from daemon.store.audit import append_audit
from daemon.store.models import PlaybookRun, RunStatus
from daemon.store.types import utcnow


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
