"""The daemon's jobs, one method each, sharing what they need: the config, the store, this
daemon's identity and its lifecycle (`scheduler.build_scheduler` wires them to triggers).

- `tick`: scan one monitor at its scheduled time (claimed, so replicas scan it once), and
  count a tick that ends in `error` as missed;
- `execute_runs`: expire overdue proposals and execute approved runs;
- `reconcile_now`: resume what dead daemons left;
- `agent_round`: the agent's proposals and follow-ups (after `start_agent`);
- `escalate`, `send_pages`: escalation steps, and PagerDuty events through the outbox;
- `heartbeat`: liveness first, then this daemon's row in the store;
- `on_event`: APScheduler's misses and failures of monitor jobs, counted as missed ticks.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)

from daemon.config.models import MonitorConfig, WardenConfig
from daemon.http.metrics import DaemonMetrics
from daemon.remediation.approvals import expire_overdue
from daemon.remediation.executor import execute_approved
from daemon.runtime.inflight import Lifecycle
from daemon.runtime.instances import beat, revive
from daemon.runtime.missed_ticks import MissedTicks
from daemon.runtime.reconciler import reconcile, resume_scans
from daemon.scan import run_scan
from daemon.scan.open_sources import OpenSources
from daemon.store.engine import Store

log = logging.getLogger("daemon.runtime.scheduler")  # the name operators filter on

#: How often the daemon looks for approved playbook runs to execute.
EXECUTE_EVERY_SECONDS = 10
#: How often the agent looks for incidents to propose for and decisions to follow up.
AGENT_EVERY_SECONDS = 30
#: How often the daemon fires due escalation steps, and sends queued PagerDuty events.
ESCALATE_EVERY_SECONDS = 15
PAGES_EVERY_SECONDS = 2
#: How often the daemon sends queued OpenLineage events.
LINEAGE_EVERY_SECONDS = 10
#: Why APScheduler says a monitor's tick did not run.
MISS_REASONS = {
    EVENT_JOB_MISSED: "late",
    EVENT_JOB_MAX_INSTANCES: "still_running",
    EVENT_JOB_ERROR: "failed",
}


class DaemonJobs:
    """The jobs of one daemon process (see the module docstring)."""

    def __init__(
        self,
        config: WardenConfig,
        store: Store,
        *,
        identity: str,
        lifecycle: Lifecycle,
        missed: MissedTicks,
        metrics: DaemonMetrics | None = None,
        heartbeat_file: Path | None = None,
    ) -> None:
        self.config, self.store, self.identity = config, store, identity
        self.lifecycle, self.missed, self.metrics = lifecycle, missed, metrics
        self.heartbeat_file = heartbeat_file
        self.monitors = {monitor.name for monitor in config.monitors}
        #: File datasets kept open between this daemon's scans.
        self.sources = OpenSources()
        self._agent: Any = None

    def tick(self, monitor: MonitorConfig, scheduled: datetime | None = None) -> None:
        if self.lifecycle.stopping.is_set():
            return  # queued before SIGTERM: not started, so not claimed; nothing to resume
        at = (scheduled or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        context = {"monitor": monitor.name, "tick": at.isoformat()}
        started = time.monotonic()
        if self.metrics is not None:
            lag = max(0.0, (datetime.now(UTC) - at).total_seconds())
            self.metrics.scheduler_lag.observe(lag)
        with self.lifecycle.inflight.track(f"scan of {monitor.name} at {at.isoformat()}"):
            report = run_scan(
                self.config,
                monitor,
                at,
                self.store,
                claimed_by=self.identity,
                replace=False,
                sources=self.sources,
            )
        if report is not None and report.status == "error":
            # No verdict: a monitor that errors at every tick must page like one that is late.
            self.missed.missed(monitor.name, at, "failed", error=report.message)
        else:
            self.missed.ran(monitor.name, at)
        if report is None:
            # Every replica tries every tick and one wins: at a thousand monitors a minute
            # this line would be most of the log, so it is kept for debugging.
            log.debug(
                "%s: tick %s already claimed by another replica",
                monitor.name,
                at.isoformat(),
                extra=context,
            )
            return
        if self.metrics is not None:
            self.metrics.scan_duration.labels(monitor.name).observe(time.monotonic() - started)
        alerts = sorted({f["pattern"] for f in report.findings if f["alert"]})
        log.log(
            logging.WARNING if report.status in ("alert", "error") else logging.INFO,
            "%s: scan at %s %s%s%s",
            monitor.name,
            at.isoformat(),
            report.status,
            f" ({', '.join(alerts)})" if alerts else "",
            f"; incidents {report.incident_ids}" if report.incident_ids else "",
            extra={
                **context,
                "scan_run_id": report.scan_run_id,
                "incident_id": report.incident_id,
            },
        )

    def execute_runs(self) -> None:
        if self.lifecycle.stopping.is_set():
            return
        with self.lifecycle.inflight.track("playbook runs"):
            with self.store.session() as session:
                expired = expire_overdue(session, self.config.playbooks.approval_ttl)
            if expired:
                log.info("proposals %s expired: not decided in time", expired)
            outcomes = execute_approved(
                self.store,
                self.config,
                identity=self.identity,
                keep_going=lambda: not self.lifecycle.stopping.is_set(),
            )
        for outcome in outcomes:
            log.warning(
                "run %s %s: %s",
                outcome.run_id,
                outcome.status,
                outcome.message,
                extra={"run_id": outcome.run_id},
            )

    def send_lineage(self) -> None:
        """Send the queued OpenLineage events of scans (`daemon.lineage.delivery`)."""
        from daemon.lineage.delivery import deliver_due

        target = self.config.lineage.openlineage
        if self.lifecycle.stopping.is_set() or target is None:
            return
        with self.lifecycle.inflight.track("lineage events"):
            outcome = deliver_due(self.store, target, limit=500)
        if outcome.sent:
            log.info("OpenLineage: %d event(s) sent", outcome.sent)

    def escalate(self) -> None:
        """Fire the due escalation steps of open incident groups (`daemon.incidents.
        escalation_runner`): each once across replicas."""
        from daemon.incidents.escalation_runner import fire_due

        if self.lifecycle.stopping.is_set():
            return
        with self.lifecycle.inflight.track("escalations"):
            fired = fire_due(self.store, self.config, identity=self.identity)
        for firing in fired:
            log.info(
                "escalation %s: step %s (%s) of group %s fired",
                firing.policy,
                firing.step,
                firing.action,
                firing.group_id,
            )

    def send_pages(self) -> None:
        """Send the queued PagerDuty events (`daemon.paging.dispatcher`)."""
        from daemon.paging.dispatcher import dispatch_pages

        settings = self.config.pagerduty
        if self.lifecycle.stopping.is_set() or settings is None:
            return
        with self.lifecycle.inflight.track("pages"):
            deliveries = dispatch_pages(self.store, settings)
        for delivery in deliveries:
            log.info("PagerDuty event %s: %s", delivery.message_id, delivery.status)

    def reconcile_now(self) -> None:
        if self.lifecycle.stopping.is_set():
            return
        with self.lifecycle.inflight.track("reconciliation"):
            found = reconcile(self.store, self.config, identity=self.identity)
            if found.changed_anything:
                log.warning("reconciled: %s", found.summary())
            resume_scans(self.store, self.config, found.resumed, identity=self.identity)

    def start_agent(self) -> bool:
        """Make the agent the `agent_round` job uses; False (one log line) without a key."""
        from daemon.agent.service import AgentService, AgentUnavailable

        try:
            self._agent = AgentService(self.store, self.config)
        except AgentUnavailable as error:
            log.info("%s", error)
            return False
        return True

    def agent_round(self) -> None:
        """The agent proposes for incidents no route covers, and resumes its proposals that
        people decided."""
        from daemon.agent.service import incidents_for_agent

        if self.lifecycle.stopping.is_set() or self._agent is None:
            return
        with self.lifecycle.inflight.track("agent"):
            for incident_id in incidents_for_agent(self.store):
                if self.lifecycle.stopping.is_set():
                    return
                try:
                    outcome = self._agent.propose(incident_id)
                except ValueError as error:  # another replica or a person got there first
                    log.info("agent: %s", error, extra={"incident_id": incident_id})
                    continue
                log.info(
                    "agent: incident %s %s",
                    incident_id,
                    outcome.outcome,
                    extra={"incident_id": incident_id, "run_id": outcome.run_id},
                )
            self._agent.resume_decided()

    def heartbeat(self) -> None:
        self.lifecycle.beat()  # first: liveness must not depend on the store (readiness does)
        if self.heartbeat_file is not None:
            self.heartbeat_file.touch()
        if not beat(self.store, self.identity):
            log.error(
                "another daemon presumed this one dead (no heartbeat for "
                "daemon.instance_stale_after); registered again",
                extra={"identity": self.identity},
            )
            revive(self.store, self.identity)

    def on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        if isinstance(event, JobSubmissionEvent):  # EVENT_JOB_MAX_INSTANCES
            scheduled = max(event.scheduled_run_times, default=datetime.now(UTC))
        else:
            scheduled = event.scheduled_run_time
        failure = getattr(event, "exception", None)
        if event.job_id not in self.monitors:
            if failure is not None:
                log.error("job %s failed: %s", event.job_id, failure)
            return
        if failure is not None:
            log.error(
                "monitor %s failed at %s: %s",
                event.job_id,
                scheduled,
                failure,
                extra={"monitor": event.job_id},
            )
        self.missed.missed(
            event.job_id,
            scheduled,
            MISS_REASONS[event.code],
            error=f"{type(failure).__name__}: {failure}" if failure is not None else None,
        )
