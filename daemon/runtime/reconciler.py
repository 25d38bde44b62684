"""Crash recovery: find the work that a stopped or dead daemon left half done, and resume it.

Run by every daemon at start and then every `RECONCILE_EVERY_SECONDS`, so a replica also
recovers what a dead peer left. Running it again changes nothing: everything it resumes is
claimed by the live daemon that runs it, which is skipped next time.

- **Daemons** silent for `daemon.instance_stale_after` (or provably gone on this host) are
  marked stopped, `presumed_dead` (`daemon.runtime.instances`).
- **Scans** still `running` under a stopped daemon are taken over (`scan.taken_over`) and
  scanned again for the same tick by the caller (`resume_scans`). A scan writes its result in
  one transaction, so the dead daemon left nothing half written, and scanning a tick again
  counts nothing twice (`daemon.incidents.incidents`). A scan whose monitor has left the config is
  closed as `error` instead (`scan.abandoned`). Scans claimed by something that never
  registered (`warden scan` from a shell or cron job) have no heartbeat: they are presumed
  abandoned after `UNREGISTERED_ABANDONED_AFTER`.
- **Playbook runs** of a stopped daemon are taken over by the executor's next claim
  (`daemon.remediation.executor.claim_next`), whose steps are idempotent; they are only
  counted here.
- **Slack messages** need nothing: the outbox is in the store and the dispatcher delivers
  what is pending when it starts; a message a dead daemon was sending is sent again (or found
  already sent, by its metadata) when its 60 s lease ends (`daemon.slack.dispatcher`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.runtime.instances import (
    forget_stopped,
    presume_dead,
    stopped_identities,
)
from daemon.scan.runner import ScanReport, TickClaim, run_scan
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.identities import Claimant
from daemon.store.models import (
    DaemonInstance,
    OutboxMessage,
    OutboxStatus,
    PlaybookRun,
    RunStatus,
    ScanRun,
    ScanStatus,
)
from daemon.store.types import utcnow

log = logging.getLogger(__name__)

#: How often a running daemon reconciles, in seconds (it also does at start).
RECONCILE_EVERY_SECONDS = 60
#: A scan claimed by a process that never registered as a daemon (`warden scan` run by hand
#: or by cron) and still `running` after this long is presumed abandoned.
UNREGISTERED_ABANDONED_AFTER = timedelta(hours=1)
#: Stopped daemons are forgotten after this long (what they left was resumed long before).
FORGET_STOPPED_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class ResumedScan:
    scan_run_id: int
    monitor: str
    at: datetime
    previous_claimant: str | None


@dataclass
class Reconciliation:
    """What one reconciliation found and did."""

    presumed_dead: list[str] = field(default_factory=list)
    resumed: list[ResumedScan] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)
    #: Runs of stopped daemons, which the executor takes over at its next claim.
    orphaned_runs: list[int] = field(default_factory=list)
    #: Slack messages not yet delivered (the dispatcher delivers them).
    outbox_pending: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(self.presumed_dead or self.resumed or self.abandoned)

    def summary(self) -> str:
        return (
            f"{len(self.presumed_dead)} daemon(s) presumed dead, "
            f"{len(self.resumed)} interrupted scan(s) resumed, "
            f"{len(self.abandoned)} abandoned, "
            f"{len(self.orphaned_runs)} playbook run(s) to take over, "
            f"{self.outbox_pending} Slack message(s) pending"
        )


def reconcile(
    store: Store, config: WardenConfig, *, identity: str, now: datetime | None = None
) -> Reconciliation:
    """Claim what dead daemons left running; the caller rescans `resumed` (`resume_scans`)."""
    now = now or utcnow()
    found = Reconciliation()
    with store.session() as session:
        found.presumed_dead = presume_dead(
            session, me=identity, stale_after=config.daemon.instance_stale_after, now=now
        )
        forget_stopped(session, before=now - FORGET_STOPPED_AFTER)
    configured = {monitor.name for monitor in config.monitors}
    with store.session() as session:
        gone = stopped_identities(session)
        registered = set(session.exec(select(DaemonInstance.identity)).all())
        running = session.exec(
            select(ScanRun)
            .where(ScanRun.status == ScanStatus.running)
            .order_by(col(ScanRun.id))
            .with_for_update(skip_locked=True)
        ).all()
        for scan in running:
            if not _orphaned(scan, gone, registered, identity, now):
                continue
            previous = scan.claimed_by
            assert scan.id is not None
            payload = {
                "monitor": scan.monitor,
                "at": scan.scheduled_for.isoformat(),
                "previous_claimant": previous,
            }
            if scan.monitor in configured:
                scan.claimed_by, scan.started_at = identity, now
                session.add(scan)
                append_audit(
                    session,
                    actor=identity,
                    action="scan.taken_over",
                    entity_type="scan_run",
                    entity_id=str(scan.id),
                    payload=payload,
                )
                resumed = ResumedScan(scan.id, scan.monitor, scan.scheduled_for, previous)
                found.resumed.append(resumed)
                continue
            scan.status, scan.finished_at = ScanStatus.error.value, now
            scan.error = (
                f"interrupted: {previous} stopped during this scan, and monitor "
                f"{scan.monitor} is no longer in the config"
            )
            session.add(scan)
            append_audit(
                session,
                actor=identity,
                action="scan.abandoned",
                entity_type="scan_run",
                entity_id=str(scan.id),
                payload=payload,
            )
            found.abandoned.append(scan.id)
    with store.session(readonly=True) as session:
        orphaned_runs = session.exec(
            select(PlaybookRun.id).where(
                PlaybookRun.status == RunStatus.running,
                col(PlaybookRun.claimed_by).in_(
                    select(DaemonInstance.identity).where(
                        col(DaemonInstance.stopped_at).is_not(None)
                    )
                ),
            )
        ).all()
        found.orphaned_runs = [run_id for run_id in orphaned_runs if run_id is not None]
        found.outbox_pending = session.exec(
            select(func.count()).where(
                col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending])
            )
        ).one()
    return found


def _orphaned(scan: ScanRun, gone: set[str], registered: set[str], me: str, now: datetime) -> bool:
    claimant = scan.claimed_by
    if claimant == me:
        return False
    if claimant in gone:
        return True
    if claimant is not None and claimant in registered:
        return False  # a live daemon's scan
    if claimant is not None and Claimant.parse(claimant).died_here():
        return True
    return now - scan.started_at > UNREGISTERED_ABANDONED_AFTER


def resume_scans(
    store: Store, config: WardenConfig, resumed: list[ResumedScan], *, identity: str
) -> list[ScanReport]:
    """Scan each taken-over tick again, as its claimant now."""
    reports = []
    for scan in resumed:
        monitor = config.monitor(scan.monitor)
        claim = TickClaim(
            scan.scan_run_id,
            replaces={
                "status": "running",
                "finished_at": None,
                "claimed_by": scan.previous_claimant,
            },
        )
        try:
            report = run_scan(config, monitor, scan.at, store, claimed_by=identity, claim=claim)
        except Exception:  # the store failed under it: run_scan marked it error if it could
            log.exception("resuming the scan run %s failed", scan.scan_run_id)
            continue
        if report is not None:
            reports.append(report)
            log.info(
                "%s: resumed the scan at %s that %s left running: %s",
                scan.monitor,
                scan.at.isoformat(),
                scan.previous_claimant,
                report.status,
                extra={"monitor": scan.monitor, "scan_run_id": scan.scan_run_id},
            )
    return reports
