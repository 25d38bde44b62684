"""`warden report`: how incidents went over a period, for reviews and on-call handovers.

Over the incidents first seen (scan time) in [since, until):

- counts by pattern and by dataset (opened, still active, resolved, closed, false alarms),
  every column present, zeros included;
- MTTA, time to acknowledge: from when Warden recorded the incident to when its first
  acknowledgement (by a person, or a remediation starting) was recorded, over the incidents
  acknowledged;
- MTTR, time to resolve: from when Warden recorded the incident to when its resolution was
  recorded, over the incidents resolved;
- how they ended: by a playbook approved automatically, by a playbook a person approved,
  by themselves (clean scans), by a person, or closed; and the false-alarm rate, the share
  of ended incidents a person closed as a false alarm.

MTTA and MTTR use recording times, the `at` of the incident's audit events (the incident
row keeps no insert time of its own), and not scan times: a scan replayed with `--at`
evaluates a past moment but is recorded now, while people acknowledge now, so mixing the two
clocks would measure the replay's age, not the response. Live, the two clocks agree to within
a scan's duration.

Durations are in seconds; the mean and the median are both given, as one slow incident
moves the mean a lot.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from daemon.store.engine import Store
from daemon.store.models import ACTIVE_INCIDENT_STATUSES, AuditEvent, Incident, PlaybookRun

#: Who resolves an incident when clean scans do (see `daemon.incidents.incidents.observe`).
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


#: The counts kept per pattern and per dataset, in the order the table and the CSV show them.
COUNT_COLUMNS = ("opened", "active", "resolved", "closed", "false_alarms")

#: The audit actions whose recording times start and stop the MTTA and MTTR clocks.
OPENED = "incident.opened"
ACKNOWLEDGED = ("incident.acknowledged", "incident.remediating")
RESOLVED = "incident.resolved"

ENDINGS = (
    "playbook_auto",
    "playbook_human",
    "recovered_by_itself",
    "resolved_by_a_person",
    "closed",
    "still_active",
)


@dataclass
class _Recorded:
    """When Warden recorded an incident's opening, first acknowledgement and resolution,
    and who resolved it."""

    opened: datetime | None = None
    acknowledged: datetime | None = None
    resolved: datetime | None = None
    resolver: str | None = None


def build_report(store: Store, since: datetime, until: datetime) -> Report:
    """The report over incidents first seen in [since, until); three queries in all."""
    window = and_(col(Incident.first_seen) >= since, col(Incident.first_seen) < until)
    with store.session(readonly=True) as session:
        # Only the columns the report reads: whole rows would decode every incident's
        # evidence JSON (most of the time at 100k incidents).
        # A Core select: SQLModel's typed overloads stop short of five columns.
        incidents: list[Any] = list(
            session.connection()
            .execute(
                sa_select(
                    col(Incident.id),
                    col(Incident.pattern),
                    col(Incident.dataset),
                    col(Incident.status),
                    col(Incident.false_alarm),
                ).where(window)
            )
            .all()
        )
        # When each incident was opened, acknowledged and resolved, by the clock that
        # recorded it, and who resolved it (the scanner, or a person / the runner).
        events = session.exec(
            select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.actor, AuditEvent.at)
            .join(
                Incident,
                and_(
                    col(AuditEvent.entity_type) == "incident",
                    col(AuditEvent.entity_id) == cast(Incident.id, String),
                ),
            )
            .where(window, col(AuditEvent.action).in_((OPENED, *ACKNOWLEDGED, RESOLVED)))
            .order_by(col(AuditEvent.seq))
        ).all()
        # The approval policy of the playbook run that succeeded, per incident.
        remediated = dict(
            session.exec(
                select(PlaybookRun.incident_id, PlaybookRun.approval_policy)
                .join(Incident, col(Incident.id) == PlaybookRun.incident_id)
                .where(window, col(PlaybookRun.status) == "succeeded")
            ).all()
        )
    recorded: dict[int, _Recorded] = {}
    for entity_id, action, actor, at in events:
        # Oldest first: the first acknowledgement counts, not a later one after a failed
        # remediation handed the incident back.
        times = recorded.setdefault(int(entity_id), _Recorded())
        if action == OPENED and times.opened is None:
            times.opened = at
        elif action in ACKNOWLEDGED and times.acknowledged is None:
            times.acknowledged = at
        elif action == RESOLVED and times.resolved is None:
            times.resolved, times.resolver = at, actor
    report = Report(since, until, incidents=len(incidents))
    by_pattern: dict[str, dict[str, int]] = {}
    by_dataset: dict[str, dict[str, int]] = {}
    endings: Counter[str] = Counter({name: 0 for name in ENDINGS})
    acknowledge, resolve = [], []
    for incident in incidents:
        times = recorded.get(incident.id or 0, _Recorded())
        ending = _ending(incident, times.resolver, remediated.get(incident.id or 0))
        endings[ending] += 1
        for groups, name in ((by_pattern, incident.pattern), (by_dataset, incident.dataset)):
            counts = groups.setdefault(name, dict.fromkeys(COUNT_COLUMNS, 0))
            counts["opened"] += 1
            counts["active" if ending == "still_active" else incident.status] += 1
            counts["false_alarms"] += int(incident.false_alarm)
        if times.opened is not None and times.acknowledged is not None:
            acknowledge.append((times.acknowledged - times.opened).total_seconds())
        if incident.status == "resolved" and times.opened and times.resolved:
            resolve.append((times.resolved - times.opened).total_seconds())
    report.by_pattern = dict(sorted(by_pattern.items()))
    report.by_dataset = dict(sorted(by_dataset.items()))
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
