"""Cards (`daemon.slack.cards`) built from the store, inside the caller's transaction, so a
message shows the state the transaction is about to commit."""

from __future__ import annotations

from sqlmodel import Session, col, select

from daemon.slack.cards import IncidentCard, RunCard
from daemon.store.models import Approval, Incident, PlaybookRun


def approvers_of(session: Session, run: PlaybookRun) -> list[str]:
    """Who approved `run`'s current plan so far, oldest first."""
    return list(
        session.exec(
            select(Approval.actor)
            .where(
                Approval.run_id == run.id,
                Approval.decision == "approve",
                Approval.plan_hash == run.plan_hash,
            )
            .order_by(col(Approval.id))
        ).all()
    )


def run_card(session: Session, run: PlaybookRun) -> RunCard:
    return RunCard.from_run(run, approvers_of(session, run))


def incident_card(
    session: Session, incident: Incident, *, report_url: str | None = None
) -> IncidentCard:
    """The incident with its latest run (the one its message offers to approve)."""
    run = session.exec(
        select(PlaybookRun)
        .where(PlaybookRun.incident_id == incident.id)
        .order_by(col(PlaybookRun.id).desc())
    ).first()
    approvals = approvers_of(session, run) if run is not None else []
    return IncidentCard.from_records(incident, run, approvals, report_url=report_url)
