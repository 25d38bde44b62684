"""`warden report`: how incidents went over a period, for reviews and on-call handovers.

Over the incidents first seen in [since, until):

- counts by pattern and by dataset (opened, still active, resolved, closed, false alarms);
- MTTA, time to acknowledge: from first seen to the first acknowledgement (by a person, or
  a remediation starting), over the incidents acknowledged;
- MTTR, time to resolve: from first seen to resolution, over the incidents resolved;
- how they ended: by a playbook approved automatically, by a playbook a person approved,
  by themselves (clean scans), by a person, or closed; and the false-alarm rate, the share
  of ended incidents a person closed as a false alarm.

Durations are in seconds; the mean and the median are both given, as one slow incident
moves the mean a lot.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast
from sqlmodel import col, select

from daemon.store.engine import Store
from daemon.store.models import ACTIVE_INCIDENT_STATUSES, AuditEvent, Incident, PlaybookRun

#: Who resolves an incident when clean scans do (see `daemon.incidents.observe`).
SCANNER_ACTOR = "scanner"


@dataclass
class Report:
    since: datetime
    until: datetime
    incidents: int = 0
    by_pattern: dict[str, dict[str, int]] = field(default_factory=dict)
    by_dataset: dict[str, dict[str, int]] = field(default_factory=dict)
    mtta_seconds: dict[str, float | None] = field(default_factory=dict)
    mttr_seconds: dict[str, float | None] = field(default_factory=dict)
    endings: dict[str, int] = field(default_factory=dict)
    false_alarm_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "incidents": self.incidents,
            "by_pattern": self.by_pattern,
            "by_dataset": self.by_dataset,
            "mtta_seconds": self.mtta_seconds,
            "mttr_seconds": self.mttr_seconds,
            "endings": self.endings,
            "false_alarm_rate": self.false_alarm_rate,
        }


ENDINGS = (
    "playbook_auto",
    "playbook_human",
    "recovered_by_itself",
    "resolved_by_a_person",
    "closed",
    "still_active",
)


def build_report(store: Store, since: datetime, until: datetime) -> Report:
    """The report over incidents first seen in [since, until); three queries in all."""
    window = and_(Incident.first_seen >= since, Incident.first_seen < until)
    with store.session(readonly=True) as session:
        # Only the columns the report reads: whole rows would decode every incident's
        # evidence JSON (most of the time at 100k incidents).
        incidents = session.exec(
            select(
                Incident.id,
                Incident.pattern,
                Incident.dataset,
                Incident.status,
                Incident.first_seen,
                Incident.acknowledged_at,
                Incident.resolved_at,
                Incident.false_alarm,
            ).where(window)
        ).all()
        # Who resolved each resolved incident (the scanner, or a person / the runner).
        resolvers = dict(
            session.exec(
                select(Incident.id, AuditEvent.actor)
                .join(
                    AuditEvent,
                    and_(
                        AuditEvent.entity_type == "incident",
                        AuditEvent.entity_id == cast(Incident.id, String),
                        AuditEvent.action == "incident.resolved",
                    ),
                )
                .where(window, Incident.status == "resolved")
            ).all()
        )
        # The approval policy of the playbook run that succeeded, per incident.
        remediated = dict(
            session.exec(
                select(PlaybookRun.incident_id, PlaybookRun.approval_policy)
                .join(Incident, col(Incident.id) == PlaybookRun.incident_id)
                .where(window, PlaybookRun.status == "succeeded")
            ).all()
        )
    report = Report(since, until, incidents=len(incidents))
    by_pattern: dict[str, Counter[str]] = defaultdict(Counter)
    by_dataset: dict[str, Counter[str]] = defaultdict(Counter)
    endings: Counter[str] = Counter({name: 0 for name in ENDINGS})
    acknowledge, resolve = [], []
    for incident in incidents:
        ending = _ending(incident, resolvers.get(incident.id), remediated.get(incident.id or 0))
        endings[ending] += 1
        for counter in (by_pattern[incident.pattern], by_dataset[incident.dataset]):
            counter["opened"] += 1
            counter["active" if ending == "still_active" else incident.status] += 1
            counter["false_alarms"] += int(incident.false_alarm)
        if incident.acknowledged_at is not None:
            acknowledge.append((incident.acknowledged_at - incident.first_seen).total_seconds())
        if incident.resolved_at is not None and incident.status == "resolved":
            resolve.append((incident.resolved_at - incident.first_seen).total_seconds())
    report.by_pattern = {name: dict(counts) for name, counts in sorted(by_pattern.items())}
    report.by_dataset = {name: dict(counts) for name, counts in sorted(by_dataset.items())}
    report.mtta_seconds = _summary(acknowledge)
    report.mttr_seconds = _summary(resolve)
    report.endings = dict(endings)
    ended = report.incidents - endings["still_active"]
    false_alarms = sum(1 for incident in incidents if incident.false_alarm)
    report.false_alarm_rate = false_alarms / ended if ended else None
    return report


def _ending(incident: Any, resolver: str | None, approval_policy: str | None) -> str:
    if incident.status in ACTIVE_INCIDENT_STATUSES:
        return "still_active"
    if incident.status == "closed":
        return "closed"
    if approval_policy is not None:
        return "playbook_auto" if approval_policy == "auto" else "playbook_human"
    return "recovered_by_itself" if resolver == SCANNER_ACTOR else "resolved_by_a_person"


def _summary(seconds: list[float]) -> dict[str, float | None]:
    if not seconds:
        return {"count": 0, "mean": None, "median": None}
    return {
        "count": len(seconds),
        "mean": statistics.fmean(seconds),
        "median": statistics.median(seconds),
    }
