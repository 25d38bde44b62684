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

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.config.models import MonitorConfig, WardenConfig
from daemon.config.runtime import HEARTBEAT_SECONDS
from daemon.http.metrics import DaemonMetrics
from daemon.runtime.inflight import Lifecycle
from daemon.runtime.jobs import (
    AGENT_EVERY_SECONDS,
    ESCALATE_EVERY_SECONDS,
    EXECUTE_EVERY_SECONDS,
    LINEAGE_EVERY_SECONDS,
    PAGES_EVERY_SECONDS,
    DaemonJobs,
)
from daemon.runtime.missed_ticks import MissedTicks
from daemon.runtime.planning_job import PLAN_EVERY_SECONDS, PlanningJob
from daemon.runtime.reconciler import RECONCILE_EVERY_SECONDS
from daemon.scan import sync_monitors
from daemon.store.engine import Store
from detectors.timeparse import format_duration

log = logging.getLogger(__name__)


def trigger_for(
    monitor: MonitorConfig, spread: timedelta | None = None
) -> CronTrigger | IntervalTrigger:
    """The monitor's trigger; an interval one moved by `tick_offset` within `spread`."""
    schedule = monitor.schedule
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    assert schedule.every is not None
    # Anchor intervals on the epoch so every replica computes the same tick times.
    return IntervalTrigger(
        seconds=int(schedule.every.total_seconds()),
        start_date=datetime(2000, 1, 1, tzinfo=UTC) + tick_offset(monitor, spread),
        timezone=UTC,
    )


def tick_offset(monitor: MonitorConfig, spread: timedelta | None) -> timedelta:
    """A whole number of seconds below `spread` and below the monitor's interval, fixed by
    its name (`daemon.spread_ticks`); zero without a spread or for cron schedules."""
    every = monitor.schedule.every
    if every is None or spread is None:
        return timedelta(0)
    seconds = int(min(spread, every).total_seconds())
    if seconds < 1:
        return timedelta(0)
    digest = hashlib.sha256(monitor.name.encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % seconds)


def describe_schedule(
    monitor: MonitorConfig, now: datetime | None = None, spread: timedelta | None = None
) -> str:
    """`every 15m, next 2025-01-01 12:15:00 UTC` or `cron "5 0 * * *", next ...`."""
    schedule = monitor.schedule
    if schedule.cron:
        what = f'cron "{schedule.cron}"'
    else:
        assert schedule.every is not None
        what = f"every {format_duration(schedule.every)}"
    trigger = trigger_for(monitor, spread)
    upcoming = trigger.get_next_fire_time(None, now or datetime.now(UTC))
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
    """The daemon's scheduler: a job per monitor, the run executor, the planner, the
    reconciler, the agent (when configured) and the heartbeat, each a method of `DaemonJobs`.
    Jobs take no new work once `lifecycle.stopping` is set, and register what they do in
    `lifecycle.inflight` so a shutdown can wait for it."""
    sync_monitors(store, config)
    lifecycle = lifecycle or Lifecycle()
    jobs = DaemonJobs(
        config,
        store,
        identity=identity,
        lifecycle=lifecycle,
        missed=MissedTicks(store, config, identity=identity, metrics=metrics),
        metrics=metrics,
        heartbeat_file=heartbeat_file,
    )
    scheduler = BlockingScheduler(timezone=UTC)
    for monitor in config.monitors:
        trigger = trigger_for(monitor, config.daemon.spread_ticks)
        scheduler.add_job(
            _tick_with_time,
            trigger=trigger,
            args=(jobs.tick, monitor, trigger),
            id=monitor.name,
            name=monitor.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire_grace(monitor),
        )
    # Housekeeping gets threads of its own: a tick's worth of scans filling the shared pool
    # must not delay approved runs, recovery or the heartbeat.
    scheduler.add_executor(ThreadPoolExecutor(2), alias="housekeeping")
    now = datetime.now(UTC)
    housekeeping: list[tuple[Callable[[], None], int, str, datetime | None]] = [
        (jobs.execute_runs, EXECUTE_EVERY_SECONDS, "execute-approved-runs", None),
        # What a crash left queued is planned at start, and leftovers reconciled at start.
        (
            PlanningJob(store, config, identity, lifecycle).run,
            PLAN_EVERY_SECONDS,
            "plan-proposals",
            now,
        ),
        (jobs.reconcile_now, RECONCILE_EVERY_SECONDS, "reconcile", now),
    ]
    if config.lineage.openlineage is not None:
        housekeeping.append((jobs.send_lineage, LINEAGE_EVERY_SECONDS, "lineage-events", now))
    if config.agent is not None and jobs.start_agent():
        housekeeping.append((jobs.agent_round, AGENT_EVERY_SECONDS, "agent", None))
    _add_interval_jobs(scheduler, "housekeeping", housekeeping)
    # On-call work gets a thread of its own: a long remediation in housekeeping must not
    # hold back a page.
    oncall: list[tuple[Callable[[], None], int, str, datetime | None]] = []
    if config.escalations:
        oncall.append((jobs.escalate, ESCALATE_EVERY_SECONDS, "escalate", now))
    if config.pagerduty is not None:
        oncall.append((jobs.send_pages, PAGES_EVERY_SECONDS, "pagerduty", now))
    if oncall:
        scheduler.add_executor(ThreadPoolExecutor(1), alias="oncall")
        _add_interval_jobs(scheduler, "oncall", oncall)
    if heartbeat_file is not None:
        heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
        heartbeat_file.touch()
    # Its own thread: a busy daemon must not look stuck (/healthz) or dead (to replicas).
    scheduler.add_executor(ThreadPoolExecutor(1), alias="heartbeat")
    scheduler.add_job(
        jobs.heartbeat,
        IntervalTrigger(seconds=HEARTBEAT_SECONDS),
        executor="heartbeat",
        next_run_time=now,
        id="heartbeat",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_listener(
        jobs.on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
    )
    return scheduler


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


def _add_interval_jobs(
    scheduler: BlockingScheduler,
    executor: str,
    jobs: list[tuple[Callable[[], None], int, str, datetime | None]],
) -> None:
    """Each (job, every seconds, id, first run or None) on `executor`; a late run is
    coalesced and one runs at a time."""
    for job, seconds, job_id, first in jobs:
        scheduler.add_job(
            job,
            IntervalTrigger(seconds=seconds),
            executor=executor,
            id=job_id,
            coalesce=True,
            max_instances=1,
            **({"next_run_time": first} if first is not None else {}),
        )
