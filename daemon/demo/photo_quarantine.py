"""The demo's last act: a person approves the quarantine of the broken picture and the
stored-twice copy, and Warden moves them out, checks the folder again and resolves."""

from __future__ import annotations

from rich.console import Console
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.remediation.approvals import DecisionRefused, decide, plan_again
from daemon.remediation.executor import execute_approved
from daemon.store.engine import Store
from daemon.store.models import Incident, PlaybookRun, RunStatus

#: Who approves in the demo (recorded in the audit trail like any person).
APPROVER = "demo-on-call"


def quarantine_photos(store: Store, config: WardenConfig, console: Console) -> None:
    """Approve and carry out the proposed quarantines of the photos dataset."""
    with store.session(readonly=True) as session:
        proposed = session.exec(
            select(PlaybookRun.id, Incident.pattern)
            .join(Incident, col(Incident.id) == col(PlaybookRun.incident_id))
            .where(Incident.dataset == "photos", PlaybookRun.status == RunStatus.proposed)
            .order_by(col(PlaybookRun.id))
        ).all()
    if not proposed:
        return
    console.print(
        f"\n{APPROVER} approves the {len(proposed)} proposed quarantine(s) of the pictures "
        "(as `warden approve RUN` would), and Warden carries them out:"
    )
    for run_id, pattern in proposed:
        assert run_id is not None
        replanned = plan_again(store, config, run_id)
        try:
            with store.session() as session:
                decide(
                    session,
                    config,
                    run_id,
                    "approve",
                    actor=APPROVER,
                    via="cli",
                    replanned=replanned,
                )
        except DecisionRefused as error:
            console.print(f"  run {run_id} ({pattern}): {error}")
    for outcome in execute_approved(store, config, identity="demo"):
        console.print(f"  run {outcome.run_id}: {outcome.status}: {outcome.message}")
