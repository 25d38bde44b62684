"""Cards (`daemon.slack.cards`) built from the store, inside the caller's transaction, so a
message shows the state the transaction is about to commit."""

from __future__ import annotations

from sqlmodel import Session, col, select

from daemon.slack.cards import IncidentCard, RunCard
from daemon.store.lineage_models import LineageInput, LineageRun
from daemon.store.models import Approval, Incident, PlaybookRun
from daemon.store.version_models import DatasetVersionRecord


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
    return IncidentCard.from_records(
        incident,
        run,
        approvals,
        report_url=report_url,
        downstream=downstream_jobs(session, incident),
    )


#: Job names a message lists at most.
LISTED_JOBS = 3


def downstream_jobs(session: Session, incident: Incident) -> tuple[tuple[str, ...], int]:
    """The jobs (at most `LISTED_JOBS` names) and how many runs read the version the
    incident's detection read or a later one (one a scan recorded after it, or for Delta a
    higher version number): a quick count for the message, from indexed queries; `warden
    lineage impact` follows the bad files themselves (`daemon.lineage.impact`)."""
    detected = ((incident.evidence or {}).get("dataset_version") or {}).get("version")
    if not detected:
        return (), 0
    seen = session.exec(
        select(DatasetVersionRecord).where(
            DatasetVersionRecord.dataset == incident.dataset,
            DatasetVersionRecord.version == detected,
        )
    ).first()
    versions = {detected}
    if seen is not None:
        versions.update(
            session.exec(
                select(DatasetVersionRecord.version).where(
                    DatasetVersionRecord.dataset == incident.dataset,
                    col(DatasetVersionRecord.first_seen_at) >= seen.first_seen_at,
                )
            ).all()
        )
    rows = session.exec(
        select(LineageRun.run_id, LineageRun.job_name, LineageInput.version)
        .where(col(LineageRun.id) == col(LineageInput.lineage_run_id))
        .where(LineageInput.dataset == incident.dataset, col(LineageInput.version).is_not(None))
        .order_by(col(LineageRun.event_time))
    ).all()
    numbered = seen is not None and seen.kind == "delta"
    runs = [
        (run, job)
        for run, job, version in rows
        if version in versions or (numbered and _later_number(version, detected))
    ]
    distinct_runs = {run_id for run_id, _job in runs}
    jobs = list(dict.fromkeys(job for _run, job in runs))
    return tuple(jobs[:LISTED_JOBS]), len(distinct_runs)


def _later_number(version: str | None, detected: str) -> bool:
    """Whether Delta version `version` is `detected` or later."""
    if not (version and version.isdigit() and detected.isdigit()):
        return False
    return int(version) >= int(detected)
