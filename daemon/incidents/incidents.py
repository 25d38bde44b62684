"""From detector findings to incidents: fingerprint, deduplicate, update, auto-resolve.

A problem is identified by its fingerprint: (monitor, dataset, pattern, scope), where the
scope is the partition or file for partition-level patterns (`missing_partition`,
`corrupt_partition`) and empty otherwise (the affected columns are evidence, not identity, so
a drift that spreads to another column updates the same incident). At most one incident per
fingerprint is active (a partial unique index); a repeated detection updates it; after
`AUTO_RESOLVE_AFTER` consecutive clean scans it resolves; a later detection opens a new
incident linked to the resolved one.

When an incident opens, it is routed (`daemon.incidents.routing.route`) and the decision is
stored on it; unless a silence or maintenance window covers the detection, in which case the
incident records which one and is routed by the first detection after the silence ends. A
route to a playbook also records a `ProposalRequest` in the same transaction; planning it is
remediation's job (`daemon.remediation.proposal_queue`), never the scan's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from daemon.config.oncall import EscalationPolicy
from daemon.config.routing import MaintenanceWindow, RouteConfig
from daemon.incidents.group_lifecycle import refresh_group_of
from daemon.incidents.groups import join_group, policy_for
from daemon.incidents.routing import IncidentFacts, route
from daemon.incidents.silences import covering_silence
from daemon.store.audit import append_audit
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    Incident,
    IncidentStatus,
    ProposalRequest,
)
from daemon.store.run_status import expire_proposals
from daemon.store.types import utcnow
from detectors.results import DetectorResult, Finding, Status

if TYPE_CHECKING:
    from daemon.config.models import WardenConfig

#: Consecutive clean scans after which an incident resolves by itself (the default of
#: `incidents.auto_resolve_after`).
AUTO_RESOLVE_AFTER = 2


@dataclass(frozen=True)
class IncidentPolicy:
    """The config that shapes incidents: auto-resolution, routes, maintenance windows."""

    auto_resolve_after: int = AUTO_RESOLVE_AFTER
    routes: Sequence[RouteConfig] = ()
    maintenance: Sequence[MaintenanceWindow] = ()
    default_channel: str | None = None
    #: Escalation policies (first match wins) and how long a group takes members.
    escalations: Sequence[EscalationPolicy] = ()
    group_window: timedelta = timedelta(0)

    @classmethod
    def from_config(cls, config: WardenConfig) -> IncidentPolicy:
        return cls(
            auto_resolve_after=config.incidents.auto_resolve_after,
            routes=tuple(config.routes),
            maintenance=tuple(config.maintenance),
            default_channel=config.slack.channel if config.slack else None,
            escalations=tuple(config.escalations),
            group_window=config.incidents.group_window,
        )


#: Details keys that make a finding's scope narrower than the whole monitor.
_SCOPE_KEYS = ("partition", "path")


@dataclass
class Detection:
    """The alerting findings of one scan that share a fingerprint."""

    pattern: str
    scope: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return sorted({f.column for f in self.findings if f.column})


@dataclass
class ObserveOutcome:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    #: Incidents routed by this scan (opened, or seen again after a silence ended).
    routed: list[int] = field(default_factory=list)
    #: The groups the routed incidents joined: group id -> incident ids.
    grouped: dict[int, list[int]] = field(default_factory=dict)

    @property
    def active(self) -> list[int]:
        return self.opened + self.updated


def fingerprint(monitor: str, dataset: str, pattern: str, scope: dict[str, Any]) -> str:
    payload = json.dumps([monitor, dataset, pattern, scope], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def group_detections(result: DetectorResult) -> list[Detection]:
    groups: dict[str, Detection] = {}
    for finding in result.alerts:
        scope = {key: finding.details[key] for key in _SCOPE_KEYS if key in finding.details}
        key = json.dumps([finding.pattern, scope], sort_keys=True)
        groups.setdefault(key, Detection(finding.pattern, scope)).findings.append(finding)
    return list(groups.values())


def _title(detection: Detection, dataset: str) -> str:
    where = ", ".join(detection.columns) or ", ".join(str(v) for v in detection.scope.values())
    return f"{detection.pattern} on {dataset}" + (f" ({where})" if where else "")


def _evidence(
    detection: Detection,
    windows: dict[str, Any],
    summary: dict[str, Any],
    dataset_version: dict[str, Any] | None = None,
) -> dict[str, Any]:
    evidence = {
        "schema_version": 1,
        "findings": [finding.to_dict() for finding in detection.findings],
        "windows": windows,
        "summary": summary,
    }
    if dataset_version is not None:
        evidence["dataset_version"] = dataset_version  # what the detecting scan read
    return evidence


def observe(
    session: Session,
    *,
    monitor: str,
    dataset: str,
    severity: str,
    result: DetectorResult,
    windows: dict[str, Any],
    at: datetime,
    actor: str = "scanner",
    policy: IncidentPolicy | None = None,
    dataset_version: dict[str, Any] | None = None,
) -> ObserveOutcome:
    """Record one scan's result: open or update incidents, route or silence them, count
    clean scans, resolve. `dataset_version` (id, kind, scan run) is what the scan read: an
    incident's evidence names the version of its latest detection."""
    policy = policy or IncidentPolicy()
    outcome = ObserveOutcome()
    if result.status in (Status.error, Status.insufficient_data):
        return outcome  # no verdict: neither a detection nor a clean scan
    seen: set[str] = set()
    for detection in group_detections(result):
        incident_key = fingerprint(monitor, dataset, detection.pattern, detection.scope)
        seen.add(incident_key)
        incident, opened, applied = _open_or_update(
            session,
            incident_key,
            monitor,
            dataset,
            severity,
            detection,
            windows,
            result.summary,
            at,
            actor,
            dataset_version,
        )
        if applied and _silence_or_route(session, incident, detection, policy, at, actor):
            outcome.routed.append(incident.id or 0)
            outcome.grouped.setdefault(incident.group_id or 0, []).append(incident.id or 0)
        (outcome.opened if opened else outcome.updated).append(incident.id or 0)
    active = session.exec(
        select(Incident)
        .where(Incident.monitor == monitor, col(Incident.status).in_(ACTIVE_INCIDENT_STATUSES))
        .order_by(col(Incident.id))
        .with_for_update()
    ).all()
    for incident in active:
        if incident.fingerprint in seen or not _counts_as_clean(incident, result, at):
            continue
        incident.clean_streak += 1
        incident.last_checked_at = at
        if incident.clean_streak >= policy.auto_resolve_after:
            incident.status = IncidentStatus.resolved
            incident.resolved_at = at
            outcome.resolved.append(incident.id or 0)
            expire_proposals(
                session, incident.id or 0, actor=actor, reason="the incident resolved itself"
            )
            append_audit(
                session,
                actor=actor,
                action="incident.resolved",
                entity_type="incident",
                entity_id=str(incident.id),
                payload={
                    "reason": f"{incident.clean_streak} consecutive clean scans",
                    "at": at.isoformat(),
                },
            )
            session.add(incident)
            refresh_group_of(
                session, incident, actor=actor, now=utcnow(), maintenance=policy.maintenance
            )
        session.add(incident)
    return outcome


def _silence_or_route(
    session: Session,
    incident: Incident,
    detection: Detection,
    policy: IncidentPolicy,
    at: datetime,
    actor: str,
) -> bool:
    """Record the silence covering this detection, or route the incident if it is not yet;
    True when it was routed now."""
    silenced_by = covering_silence(
        session,
        at=at,
        monitor=incident.monitor,
        dataset=incident.dataset,
        pattern=incident.pattern,
        maintenance=policy.maintenance,
    )
    was_silenced_by, incident.silenced_by = incident.silenced_by, silenced_by
    session.add(incident)
    if silenced_by is not None:
        if silenced_by != was_silenced_by:
            append_audit(
                session,
                actor=actor,
                action="incident.silenced",
                entity_type="incident",
                entity_id=str(incident.id),
                payload={"by": silenced_by, "at": at.isoformat()},
            )
        return False
    if incident.route is not None:
        return False
    facts = IncidentFacts(
        incident.monitor,
        incident.dataset,
        incident.pattern,
        incident.severity,
        tuple(detection.columns),
    )
    decision = route(facts, policy.routes, policy.default_channel)
    incident.route = decision.to_dict()
    # Grouped before the routing is audited: the Slack writer posts on `incident.routed`
    # and must know the group to post one message for all of them.
    join_group(
        session,
        incident,
        channel=decision.channel or "",
        policy=policy_for(facts, policy.escalations),
        at=at,
        window=policy.group_window,
        actor=actor,
        maintenance=policy.maintenance,
    )
    append_audit(
        session,
        actor=actor,
        action="incident.routed",
        entity_type="incident",
        entity_id=str(incident.id),
        payload={**decision.to_dict(), "at": at.isoformat()},
    )
    if decision.playbook is not None:
        # Planning reads the data and may take minutes: it is not done here, on the scan's
        # path, but recorded in the same transaction, so a crash cannot lose it.
        session.add(ProposalRequest(incident_id=incident.id or 0))
    return True


def _is_newer(incident: Incident, at: datetime) -> bool:
    """Whether a scan at `at` comes after every scan already applied to the incident."""
    return incident.last_checked_at is None or at > incident.last_checked_at


def _counts_as_clean(incident: Incident, result: DetectorResult, at: datetime) -> bool:
    """A clean scan counts toward resolution only if it is newer than any applied scan and,
    for a partition-scoped incident, actually checked that partition (a missing day that
    scrolled out of the freshness lookback is not thereby found)."""
    if not _is_newer(incident, at):
        return False
    partition = incident.scope.get("partition")
    if partition is None:
        return True
    checked = result.summary.get("checked_partitions")
    if not isinstance(checked, dict) or not checked.get("start") or not checked.get("end"):
        return False
    return bool(checked["start"] <= partition < checked["end"])


def _open_or_update(
    session: Session,
    incident_key: str,
    monitor: str,
    dataset: str,
    severity: str,
    detection: Detection,
    windows: dict[str, Any],
    summary: dict[str, Any],
    at: datetime,
    actor: str,
    dataset_version: dict[str, Any] | None = None,
) -> tuple[Incident, bool, bool]:
    """The incident for this detection, whether it was opened, and whether this scan was
    applied to it (False for a replay of a scan time it has already seen)."""
    evidence = _evidence(detection, windows, summary, dataset_version)
    for _attempt in range(2):
        # FOR UPDATE: concurrent scans of the same problem queue on the row instead of each
        # incrementing a stale copy (lost updates under read committed). On SQLite the
        # writer lock taken at BEGIN already serialises them and the clause is ignored.
        existing = session.exec(
            select(Incident)
            .where(
                Incident.fingerprint == incident_key,
                col(Incident.status).in_(ACTIVE_INCIDENT_STATUSES),
            )
            .with_for_update()
        ).first()
        if existing is not None and not _is_newer(existing, at):
            # A replay or re-run of a scan time already applied: count nothing twice, but
            # an older detection does move the start of the problem back.
            if at < existing.first_seen:
                existing.first_seen = at
                session.add(existing)
            return existing, False, False
        if existing is not None:
            existing.occurrences += 1
            # The monitor's severity as configured now (it may have been raised since).
            existing.severity = severity
            existing.last_seen = max(existing.last_seen, at)
            existing.last_checked_at = at
            existing.clean_streak = 0
            existing.evidence = evidence
            existing.title = _title(detection, dataset)
            session.add(existing)
            append_audit(
                session,
                actor=actor,
                action="incident.updated",
                entity_type="incident",
                entity_id=str(existing.id),
                payload={
                    "occurrences": existing.occurrences,
                    "at": at.isoformat(),
                    "columns": detection.columns,
                },
            )
            return existing, False, True
        previous = session.exec(
            select(Incident)
            .where(Incident.fingerprint == incident_key)
            .order_by(col(Incident.id).desc())
        ).first()
        incident = Incident(
            fingerprint=incident_key,
            monitor=monitor,
            dataset=dataset,
            pattern=detection.pattern,
            scope=detection.scope,
            severity=severity,
            title=_title(detection, dataset),
            first_seen=at,
            last_seen=at,
            last_checked_at=at,
            evidence=evidence,
            previous_incident_id=previous.id if previous else None,
        )
        try:
            with session.begin_nested():
                session.add(incident)
                session.flush()
        except IntegrityError:
            continue  # another scan opened it a moment ago: update that one instead
        append_audit(
            session,
            actor=actor,
            action="incident.opened",
            entity_type="incident",
            entity_id=str(incident.id),
            payload={
                "fingerprint": incident_key,
                "pattern": detection.pattern,
                "scope": detection.scope,
                "columns": detection.columns,
                "previous_incident_id": incident.previous_incident_id,
                "at": at.isoformat(),
            },
        )
        return incident, True, True
    raise RuntimeError(f"could not open or update the incident with fingerprint {incident_key}")
