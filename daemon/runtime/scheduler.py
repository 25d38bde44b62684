"""One APScheduler job per monitor, built from the config at start.

The config is the source of truth: jobs live in memory (no pickled job store). Each job is
`coalesce`d with `max_instances=1`, and a misfire grace time of half the interval (at least
a minute), so a late tick still runs once while a tick missed by a long pause is skipped and
logged. Each tick claims its (monitor, scheduled time) ScanRun row, so replicas sharing a
store never scan the same tick twice.

Ticks that could not run (late, the previous scan still running, failed: the tick raised
or its scan ended in `error`) are counted and open a `missed_ticks` incident when they add
up (`daemon.runtime.missed_ticks`). Every `HEARTBEAT_SECONDS` the daemon refreshes its row
in `daemon_instance` (and the heartbeat file, when given); every `RECONCILE_EVERY_SECONDS`,
and at start, it resumes what dead daemons left (`daemon.runtime.reconciler`). Every
`PLAN_EVERY_SECONDS`, and at start, it plans the proposals that scans queued
(`daemon.runtime.planning_job`): ticks never plan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.config.models import MonitorConfig, WardenConfig
from daemon.config.runtime import HEARTBEAT_SECONDS
from daemon.http.metrics import DaemonMetrics
from daemon.remediation.approvals import expire_overdue
from daemon.remediation.executor import execute_approved
from daemon.runtime.inflight import Lifecycle
from daemon.runtime.instances import beat, revive
from daemon.runtime.missed_ticks import MissedTicks
from daemon.runtime.planning_job import PLAN_EVERY_SECONDS, PlanningJob
from daemon.runtime.reconciler import RECONCILE_EVERY_SECONDS, reconcile, resume_scans
from daemon.scan import run_scan, sync_monitors
from daemon.store.engine import Store
from detectors.timeparse import format_duration

log = logging.getLogger(__name__)

#: How often the daemon looks for approved playbook runs to execute.
EXECUTE_EVERY_SECONDS = 10
#: How often the agent looks for incidents to propose for and decisions to follow up.
AGENT_EVERY_SECONDS = 30


def trigger_for(monitor: MonitorConfig) -> CronTrigger | IntervalTrigger:
    schedule = monitor.schedule
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    assert schedule.every is not None
    # Anchor intervals on the epoch so every replica computes the same tick times.
    return IntervalTrigger(
        seconds=int(schedule.every.total_seconds()),
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        timezone=UTC,
    )


def describe_schedule(monitor: MonitorConfig, now: datetime | None = None) -> str:
    """`every 15m, next 2025-01-01 12:15:00 UTC` or `cron "5 0 * * *", next ...`."""
    schedule = monitor.schedule
    if schedule.cron:
        what = f'cron "{schedule.cron}"'
    else:
        assert schedule.every is not None
        what = f"every {format_duration(schedule.every)}"
    upcoming = trigger_for(monitor).get_next_fire_time(None, now or datetime.now(UTC))
    return f"{what}, next {upcoming:%Y-%m-%d %H:%M:%S} UTC" if upcoming else what


def misfire_grace(monitor: MonitorConfig) -> int:
    every = monitor.schedule.every or timedelta(hours=1)
    return max(60, int(every.total_seconds() // 2))


def build_scheduler(
    config: WardenConfig,
    store: Store,
    *,
    identity: str,
    heartbeat_file: Path | None = None,
    metrics: DaemonMetrics | None = None,
    lifecycle: Lifecycle | None = None,
) -> BlockingScheduler:
    """The daemon's scheduler: a job per monitor, the run executor, the reconciler and the
    heartbeat. Jobs take no new work once `lifecycle.stopping` is set, and register what
    they do in `lifecycle.inflight` so a shutdown can wait for it."""
    sync_monitors(store, config)
    lifecycle = lifecycle or Lifecycle()
    missed = MissedTicks(store, config, identity=identity, metrics=metrics)
    scheduler = BlockingScheduler(timezone=UTC)

    def tick(monitor: MonitorConfig, scheduled: datetime | None = None) -> None:
        if lifecycle.stopping.is_set():
            return  # queued before SIGTERM: not started, so not claimed; nothing to resume
        at = (scheduled or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        context = {"monitor": monitor.name, "tick": at.isoformat()}
        started = time.monotonic()
        if metrics is not None:
            metrics.scheduler_lag.observe(max(0.0, (datetime.now(UTC) - at).total_seconds()))
        with lifecycle.inflight.track(f"scan of {monitor.name} at {at.isoformat()}"):
            report = run_scan(config, monitor, at, store, claimed_by=identity, replace=False)
        if report is not None and report.status == "error":
            # No verdict: a monitor that errors at every tick must page like one that is late.
            missed.missed(monitor.name, at, "failed", error=report.message)
        else:
            missed.ran(monitor.name, at)
        if report is None:
            log.info(
                "%s: tick %s already claimed by another replica",
                monitor.name,
                at.isoformat(),
                extra=context,
            )
            return
        if metrics is not None:
            metrics.scan_duration.labels(monitor.name).observe(time.monotonic() - started)
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

    for monitor in config.monitors:
        trigger = trigger_for(monitor)
        scheduler.add_job(
            _tick_with_time,
            trigger=trigger,
            args=(tick, monitor, trigger),
            id=monitor.name,
            name=monitor.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire_grace(monitor),
        )

    def execute_runs() -> None:
        if lifecycle.stopping.is_set():
            return
        with lifecycle.inflight.track("playbook runs"):
            with store.session() as session:
                expired = expire_overdue(session, config.playbooks.approval_ttl)
            if expired:
                log.info("proposals %s expired: not decided in time", expired)
            outcomes = execute_approved(
                store, config, identity=identity, keep_going=lambda: not lifecycle.stopping.is_set()
            )
        for outcome in outcomes:
            log.warning(
                "run %s %s: %s",
                outcome.run_id,
                outcome.status,
                outcome.message,
                extra={"run_id": outcome.run_id},
            )

    # Housekeeping gets threads of its own: a tick's worth of scans filling the shared pool
    # must not delay approved runs, recovery or the heartbeat.
    scheduler.add_executor(ThreadPoolExecutor(2), alias="housekeeping")
    scheduler.add_job(
        execute_runs,
        IntervalTrigger(seconds=EXECUTE_EVERY_SECONDS),
        executor="housekeeping",
        id="execute-approved-runs",
        coalesce=True,
        max_instances=1,
    )

    scheduler.add_job(
        PlanningJob(store, config, identity, lifecycle).run,
        IntervalTrigger(seconds=PLAN_EVERY_SECONDS),
        executor="housekeeping",
        id="plan-proposals",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now(UTC),  # what a crash left queued is planned at start
    )

    def reconcile_now() -> None:
        if lifecycle.stopping.is_set():
            return
        with lifecycle.inflight.track("reconciliation"):
            found = reconcile(store, config, identity=identity)
            if found.changed_anything:
                log.warning("reconciled: %s", found.summary())
            resume_scans(store, config, found.resumed, identity=identity)

    scheduler.add_job(
        reconcile_now,
        IntervalTrigger(seconds=RECONCILE_EVERY_SECONDS),
        executor="housekeeping",
        id="reconcile",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.now(UTC),  # at start, then every minute
    )

    if config.agent is not None:
        _add_agent_job(scheduler, store, config, lifecycle)

    def heartbeat() -> None:
        lifecycle.beat()  # first: liveness must not depend on the store (readiness does)
        if heartbeat_file is not None:
            heartbeat_file.touch()
        if not beat(store, identity):
            log.error(
                "another daemon presumed this one dead (no heartbeat for "
                "daemon.instance_stale_after); registered again",
                extra={"identity": identity},
            )
            revive(store, identity)

    if heartbeat_file is not None:
        heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
        heartbeat_file.touch()
    # Its own thread: a busy daemon must not look stuck (/healthz) or dead (to replicas).
    scheduler.add_executor(ThreadPoolExecutor(1), alias="heartbeat")
    scheduler.add_job(
        heartbeat,
        IntervalTrigger(seconds=HEARTBEAT_SECONDS),
        executor="heartbeat",
        next_run_time=datetime.now(UTC),
        id="heartbeat",
        coalesce=True,
        max_instances=1,
    )

    monitors = {monitor.name for monitor in config.monitors}

    def on_event(event: JobExecutionEvent | JobSubmissionEvent) -> None:
        if isinstance(event, JobSubmissionEvent):  # EVENT_JOB_MAX_INSTANCES
            scheduled = max(event.scheduled_run_times, default=datetime.now(UTC))
        else:
            scheduled = event.scheduled_run_time
        if event.job_id in monitors:
            reason = {
                EVENT_JOB_MISSED: "late",
                EVENT_JOB_MAX_INSTANCES: "still_running",
                EVENT_JOB_ERROR: "failed",
            }[event.code]
            if isinstance(event, JobExecutionEvent) and event.exception is not None:
                log.error(
                    "monitor %s failed at %s: %s",
                    event.job_id,
                    scheduled,
                    event.exception,
                    extra={"monitor": event.job_id},
                )
            failure = getattr(event, "exception", None)
            missed.missed(
                event.job_id,
                scheduled,
                reason,
                error=f"{type(failure).__name__}: {failure}" if failure is not None else None,
            )
        elif isinstance(event, JobExecutionEvent) and event.exception is not None:
            log.error("job %s failed: %s", event.job_id, event.exception)

    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _add_agent_job(
    scheduler: BlockingScheduler, store: Store, config: WardenConfig, lifecycle: Lifecycle
) -> None:
    """Every `AGENT_EVERY_SECONDS`: the agent proposes for incidents no route covers, and
    resumes its proposals that people decided. Off, with one log line, without a key."""
    from daemon.agent.service import AgentService, AgentUnavailable, incidents_for_agent

    try:
        service = AgentService(store, config)
    except AgentUnavailable as error:
        log.info("%s", error)
        return

    def agent_round() -> None:
        if lifecycle.stopping.is_set():
            return
        with lifecycle.inflight.track("agent"):
            for incident_id in incidents_for_agent(store):
                if lifecycle.stopping.is_set():
                    return
                try:
                    outcome = service.propose(incident_id)
                except ValueError as error:  # another replica or a person got there first
                    log.info("agent: %s", error, extra={"incident_id": incident_id})
                    continue
                log.info(
                    "agent: incident %s %s",
                    incident_id,
                    outcome.outcome,
                    extra={"incident_id": incident_id, "run_id": outcome.run_id},
                )
            service.resume_decided()

    scheduler.add_job(
        agent_round,
        IntervalTrigger(seconds=AGENT_EVERY_SECONDS),
        executor="housekeeping",
        id="agent",
        coalesce=True,
        max_instances=1,
    )


def latest_fire_time(
    trigger: CronTrigger | IntervalTrigger, now: datetime, horizon: timedelta
) -> datetime | None:
    """The last time `trigger` fired at or before `now`, looking back at most `horizon`.

    APScheduler 3 does not pass a job its scheduled time, and the scan must be keyed by that
    time (not by when the thread got to run it) for replicas to agree on the tick.
    """
    fire = trigger.get_next_fire_time(None, now - horizon)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


def _tick_with_time(
    tick: Callable[[MonitorConfig, datetime | None], None],
    monitor: MonitorConfig,
    trigger: CronTrigger | IntervalTrigger,
) -> None:
    now = datetime.now(UTC)
    tick(monitor, latest_fire_time(trigger, now, timedelta(seconds=misfire_grace(monitor))) or now)
