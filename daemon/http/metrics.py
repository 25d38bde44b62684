"""Prometheus metrics of a daemon (`GET /metrics`).

Two kinds, on one registry per daemon:

- **Read from the store at each scrape** (`StoreCollector`), so every replica reports the
  same shared state and a restart loses nothing: scans by monitor and status
  (`warden_scans_total`), open incidents by severity, playbook runs by status, the outbox
  backlog, proposals waiting to be planned (`warden_proposal_queue`). A store that does not
  answer makes the scrape report `warden_store_up 0` instead of failing.
- **Measured in this process** (`DaemonMetrics`): scan duration and scheduler lag (how long
  after its scheduled time a tick started), as histograms in seconds; ticks missed, by
  monitor and reason (`daemon.runtime.missed_ticks`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from daemon.store.engine import Store
from daemon.store.errors import StoreError
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    OPEN_PROPOSAL_STATUSES,
    Incident,
    OutboxMessage,
    OutboxStatus,
    PlaybookRun,
    ProposalRequest,
    ScanRun,
)

#: Histogram buckets in seconds: sub-second scans up to a slow warehouse query.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class StoreCollector(Collector):
    """Counts read from the store at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("warden_store_up", "1 when the store answered this scrape.")
        try:
            families = list(self._from_store())
        except (SQLAlchemyError, StoreError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _from_store(self) -> Iterator[Metric]:
        with self.store.session(readonly=True) as session:
            scans = session.exec(
                select(ScanRun.monitor, ScanRun.status, func.count()).group_by(
                    ScanRun.monitor, ScanRun.status
                )
            ).all()
            incidents = session.exec(
                select(Incident.severity, func.count())
                .where(col(Incident.status).in_(ACTIVE_INCIDENT_STATUSES))
                .group_by(Incident.severity)
            ).all()
            runs = session.exec(
                select(PlaybookRun.status, func.count()).group_by(PlaybookRun.status)
            ).all()
            backlog = session.exec(
                select(func.count()).where(
                    col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending])
                )
            ).one()
            queued = session.exec(
                select(func.count()).where(col(ProposalRequest.status).in_(OPEN_PROPOSAL_STATUSES))
            ).one()
        scans_family = CounterMetricFamily(
            "warden_scans",
            "Scans recorded in the store, by monitor and status.",
            labels=["monitor", "status"],
        )
        for monitor, status, count in scans:
            scans_family.add_metric([monitor, status], count)
        yield scans_family
        open_family = GaugeMetricFamily(
            "warden_open_incidents",
            "Incidents still open, acknowledged or remediating, by severity.",
            labels=["severity"],
        )
        for severity, count in incidents:
            open_family.add_metric([severity], count)
        yield open_family
        runs_family = GaugeMetricFamily(
            "warden_playbook_runs", "Playbook runs by status.", labels=["status"]
        )
        for status, count in runs:
            runs_family.add_metric([status], count)
        yield runs_family
        yield GaugeMetricFamily(
            "warden_outbox_backlog", "Slack messages not yet delivered.", value=backlog
        )
        yield GaugeMetricFamily(
            "warden_proposal_queue",
            "Incidents routed to a playbook whose proposal is not planned yet.",
            value=queued,
        )


class DaemonMetrics:
    """One daemon's registry: the store collector plus this process's histograms."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store))
        self.scan_duration = Histogram(
            "warden_scan_duration_seconds",
            "Wall time of one scan (a monitor at one tick), in seconds.",
            ["monitor"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.scheduler_lag = Histogram(
            "warden_scheduler_lag_seconds",
            "How long after its scheduled time a tick started, in seconds.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.missed_ticks = Counter(
            "warden_scheduler_missed_ticks",
            "Ticks a monitor missed: late (not started within the misfire grace time), "
            "still_running (its previous scan had not finished) or failed.",
            ["monitor", "reason"],
            registry=self.registry,
        )
