"""Ticks a monitor missed in a row, and the `missed_ticks` incident when they add up.

A tick is missed when the scheduler could not start it within its misfire grace time (the
thread pool was busy, the process was paused), when the previous scan of the monitor was
still running (`max_instances=1`), or when the tick failed: it raised (the store did not
answer, the result could not be written) or its scan ended in `error` (the source is
unreachable, the evaluator broke), since an errored scan gives no verdict either. Each miss
is logged and counted (`warden_scheduler_missed_ticks_total{monitor, reason}`), unless
another replica claimed that tick: then its scan run exists with another daemon's identity,
and the tick ran there (or, if it ended in `error`, that replica counts the miss). A scan
run this daemon claimed itself never makes its own failed tick look claimed elsewhere.

`daemon.missed_ticks_alert` misses in a row open an incident of monitor `scheduler/<name>`
(the slash cannot occur in a monitor's name, so it never mixes with the monitor's own data
incidents) with pattern `missed_ticks`, routed like any other incident. Each tick that runs
afterwards counts as a clean check, so the incident resolves by itself after
`incidents.auto_resolve_after` ticks run again.

When more than `OVERLOADED_MONITORS` monitors are behind at once, the daemon itself cannot
keep up (too many monitors for its CPU, or a store that is too slow): the monitors that fall
behind after that are gathered into one `scheduler_overloaded` incident of monitor
`scheduler/*` (severity critical, the monitors behind in its evidence) instead of an
incident each, so an on-call engineer gets one page, not hundreds. It resolves once no
monitor is behind.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.http.metrics import DaemonMetrics
from daemon.incidents.incidents import IncidentPolicy, ObserveOutcome, observe
from daemon.store.engine import Store
from daemon.store.errors import StoreError
from daemon.store.json_safety import cap_text, sanitize_text
from daemon.store.models import ACTIVE_INCIDENT_STATUSES, Incident, ScanRun, ScanStatus
from detectors.results import DetectorResult, Finding, Status

log = logging.getLogger(__name__)

PATTERN = "missed_ticks"
OVERLOADED_PATTERN = "scheduler_overloaded"
#: More monitors than this behind at once means the daemon is overloaded (one incident).
OVERLOADED_MONITORS = 5
#: The `scheduler/<name>` suffix of the overload incident.
ALL_MONITORS = "*"
#: Why a tick was missed (the metric's `reason` label).
REASONS = ("late", "still_running", "failed")
#: Characters of a failed tick's error kept in the incident's evidence.
ERROR_CHARACTERS = 500


def scheduler_monitor(monitor: str) -> str:
    """The monitor name of a monitor's scheduler incidents."""
    return f"scheduler/{monitor}"


class MissedTicks:
    """Thread-safe: APScheduler reports from its own thread and the executor's."""

    def __init__(
        self,
        store: Store,
        config: WardenConfig,
        *,
        identity: str,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.identity = identity
        self.metrics = metrics
        self.threshold = config.daemon.missed_ticks_alert
        self._lock = threading.Lock()
        self._streaks: dict[str, int] = {}
        self._alerting: set[str] | None = None  # monitors with an active incident; lazy

    def streak(self, monitor: str) -> int:
        with self._lock:
            return self._streaks.get(monitor, 0)

    def missed(
        self, monitor: str, scheduled: datetime, reason: str, *, error: str | None = None
    ) -> None:
        """Record one missed tick; opens or updates the incident at the threshold. A tick
        another replica claimed is not missed here: it counts as run, or, when its scan
        ended in `error`, as nothing (that replica counts the miss). `error` says what went
        wrong, for the incident's evidence."""
        elsewhere = self._status_elsewhere(monitor, scheduled)
        if elsewhere is not None:
            if elsewhere != ScanStatus.error:
                self.ran(monitor, scheduled)
            return
        if self.metrics is not None:
            self.metrics.missed_ticks.labels(monitor, reason).inc()
        with self._lock:
            streak = self._streaks[monitor] = self._streaks.get(monitor, 0) + 1
        log.warning(
            "%s: missed its tick at %s (%s; %d in a row)",
            monitor,
            scheduled.isoformat(),
            reason,
            streak,
            extra={"monitor": monitor, "tick": scheduled.isoformat(), "reason": reason},
        )
        if streak < self.threshold:
            return
        with self._lock:
            behind = sorted(m for m, n in self._streaks.items() if n >= self.threshold)
        alerting = self._alerting_set()
        if len(behind) > OVERLOADED_MONITORS and monitor not in alerting:
            self._overloaded(behind, scheduled)
            return
        finding = Finding(
            pattern=PATTERN,
            column=None,
            method="scheduler",
            statistic=float(streak),
            threshold=float(self.threshold),
            alert=True,
            details={
                "monitor": monitor,
                "reason": reason,
                "last_missed": scheduled.isoformat(),
                **({"error": cap_text(sanitize_text(error), ERROR_CHARACTERS)} if error else {}),
            },
        )
        result = DetectorResult.from_findings(
            [finding],
            message=f"{monitor} missed {streak} ticks in a row (last: {reason})",
            summary={"missed_in_a_row": streak},
        )
        configured = self._configured(monitor)
        if configured and self._observe(monitor, *configured, scheduled, result):
            alerting.add(monitor)

    def ran(self, monitor: str, at: datetime) -> None:
        """A tick of `monitor` ran: the streak ends, and an active incident counts a clean
        check (the overload incident, once no monitor is behind)."""
        with self._lock:
            self._streaks.pop(monitor, None)
            nobody_behind = all(n < self.threshold for n in self._streaks.values())
        alerting = self._alerting_set()
        clean = DetectorResult(status=Status.ok, message=f"{monitor} ran its tick")
        if monitor in alerting and (configured := self._configured(monitor)):
            outcome = self._observe(monitor, *configured, at, clean)
            if outcome is not None and outcome.resolved:
                alerting.discard(monitor)
        if ALL_MONITORS in alerting and nobody_behind:
            outcome = self._observe(ALL_MONITORS, "(all)", "critical", at, clean)
            if outcome is not None and outcome.resolved:
                alerting.discard(ALL_MONITORS)

    def _overloaded(self, behind: list[str], at: datetime) -> None:
        finding = Finding(
            pattern=OVERLOADED_PATTERN,
            column=None,
            method="scheduler",
            statistic=float(len(behind)),
            threshold=float(OVERLOADED_MONITORS),
            alert=True,
            details={"monitors_behind": behind[:100], "count": len(behind)},
        )
        result = DetectorResult.from_findings(
            [finding],
            message=f"{len(behind)} monitors are each {self.threshold}+ ticks behind: the "
            "daemon cannot keep up (add a replica on PostgreSQL, or slow the schedules)",
        )
        if self._observe(ALL_MONITORS, "(all)", "critical", at, result):
            self._alerting_set().add(ALL_MONITORS)

    def _configured(self, monitor: str) -> tuple[str, str] | None:
        """(dataset, severity) of a configured monitor; None for one no longer configured."""
        try:
            configured = self.config.monitor(monitor)
        except KeyError:
            return None
        return configured.dataset, configured.severity

    def _status_elsewhere(self, monitor: str, scheduled: datetime) -> str | None:
        """The status of the tick's scan run when another daemon claimed it, else None
        (nobody did, this daemon did, or the store is away: the miss counts here)."""
        tick = scheduled.astimezone(UTC).replace(microsecond=0)
        try:
            with self.store.session(readonly=True) as session:
                found = session.exec(
                    select(ScanRun.claimed_by, ScanRun.status).where(
                        ScanRun.monitor == monitor, ScanRun.scheduled_for == tick
                    )
                ).first()
        except (SQLAlchemyError, StoreError):
            return None
        if found is None:
            return None
        claimed_by, status = found
        return None if claimed_by == self.identity else str(status)

    def _alerting_set(self) -> set[str]:
        if self._alerting is None:
            prefix = scheduler_monitor("")
            try:
                with self.store.session(readonly=True) as session:
                    names = session.exec(
                        select(Incident.monitor).where(
                            col(Incident.monitor).startswith(prefix),
                            col(Incident.status).in_(ACTIVE_INCIDENT_STATUSES),
                        )
                    ).all()
            except Exception:  # the store is away: try again at the next tick
                log.exception("could not read the scheduler's open incidents")
                return set()
            self._alerting = {name.removeprefix(prefix) for name in names}
        return self._alerting

    def _observe(
        self, monitor: str, dataset: str, severity: str, at: datetime, result: DetectorResult
    ) -> ObserveOutcome | None:
        try:
            with self.store.session() as session:
                return observe(
                    session,
                    monitor=scheduler_monitor(monitor),
                    dataset=dataset,
                    severity=severity,
                    result=result,
                    windows={},
                    at=at.replace(microsecond=0),
                    actor=self.identity,
                    policy=IncidentPolicy.from_config(self.config),
                )
        except Exception:  # never let the bookkeeping of a miss stop the scheduler
            log.exception("could not record the missed ticks of %s", monitor)
            return None
