"""Read-only queries over the store for the CLI (and later the HTTP API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from daemon.incidents.routing import RouteDecision, default_route
from daemon.store.engine import Store
from daemon.store.models import AuditEvent, Incident, IncidentStatus, RunStatus

#: What happens to an incident group (`daemon.incidents.groups`, `group_lifecycle`).
GROUP_EVENTS = ("opened", "joined", "acknowledged", "reopened", "closed", "held", "resumed")

#: Every action Warden writes to the audit trail (`audit log --action` checks against these
#: and the actions already in the store). A test reads the `append_audit` calls in `daemon/`
#: to keep this complete.
AUDIT_ACTIONS = tuple(
    sorted(
        {
            "incident.opened",
            "incident.updated",
            "incident.routed",
            "incident.silenced",
            # A person or the runner moves an incident on; nothing moves it back to open.
            *(f"incident.{s.value}" for s in IncidentStatus if s != IncidentStatus.open),
            *(f"run.{s.value}" for s in RunStatus),
            "run.approve_recorded",
            "run.reject_recorded",
            "run.taken_over",
            "run.step",
            "run.phase",
            "proposal.skipped",
            "proposal.failed",
            "proposal.taken_over",
            "silence.created",
            "silence.expired",
            "scan.completed",
            "scan.taken_over",
            "scan.abandoned",
            "daemon.presumed_dead",
            "agent.started",
            "agent.proposed",
            "agent.invalid",
            "agent.failed",
            "agent.escalated",
            "agent.decided",
            "slack.refused",
            "slack.failed",
            "slack.rejected",
            "quarantine.released",
            "token.created",
            "token.revoked",
            "lineage.received",
            "lineage.refused",
            *(f"group.{name}" for name in GROUP_EVENTS),
            "escalation.step_fired",
            "escalation.notify_failed",
            "page.refused",
            "page.failed",
        }
    )
)


@dataclass(frozen=True)
class IncidentFilter:
    status: list[str] | None = None
    dataset: str | None = None
    monitor: str | None = None
    pattern: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200


def incident_row(incident: Incident) -> dict[str, Any]:
    """The flat view of an incident used by `incidents list` (JSON and CSV)."""
    columns = sorted(
        {f["column"] for f in incident.evidence.get("findings", []) if f.get("column")}
    )
    return {
        "id": incident.id,
        "status": incident.status,
        "severity": incident.severity,
        "pattern": incident.pattern,
        "dataset": incident.dataset,
        "monitor": incident.monitor,
        "scope": incident.scope,
        "columns": columns,
        "title": incident.title,
        "occurrences": incident.occurrences,
        "first_seen": incident.first_seen.isoformat(),
        "last_seen": incident.last_seen.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "previous_incident_id": incident.previous_incident_id,
        "proposed_action": proposed_action(incident),
        "route": incident.route,
        "silenced_by": incident.silenced_by,
        "group": incident.group_id,
        "acknowledged_at": _iso(incident.acknowledged_at),
        "closed_at": _iso(incident.closed_at),
        "closed_reason": incident.closed_reason,
        "false_alarm": incident.false_alarm,
    }


def proposed_action(incident: Incident) -> str:
    """The stored routing decision in words; while silenced (and not yet routed), which
    silence holds it; for incidents from before routing was stored, the pattern's default."""
    if incident.route is not None:
        return RouteDecision.from_dict(incident.route).describe()
    if incident.silenced_by is not None:
        return f"silenced by {incident.silenced_by}; routed when a detection falls outside it"
    return default_route(incident.pattern).describe()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def list_incidents(store: Store, filters: IncidentFilter) -> list[Incident]:
    query = select(Incident)
    if filters.status:
        query = query.where(col(Incident.status).in_(filters.status))
    for field_name in ("dataset", "monitor", "pattern", "severity"):
        value = getattr(filters, field_name)
        if value:
            query = query.where(getattr(Incident, field_name) == value)
    if filters.since:
        query = query.where(Incident.last_seen >= filters.since)
    if filters.until:
        query = query.where(Incident.first_seen < filters.until)
    query = query.order_by(col(Incident.id).desc()).limit(filters.limit)
    with store.session(readonly=True) as session:
        return list(session.exec(query).all())


def get_incident(store: Store, incident_id: int) -> tuple[Incident | None, list[AuditEvent]]:
    """The incident and its timeline: the audit events about it and about its group (the
    group's escalation steps, pages, acknowledgement and end), oldest first."""
    with store.session(readonly=True) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None, []
        about = (AuditEvent.entity_type == "incident") & (AuditEvent.entity_id == str(incident_id))
        if incident.group_id is not None:
            about = about | (
                (AuditEvent.entity_type == "incident_group")
                & (AuditEvent.entity_id == str(incident.group_id))
            )
        events = session.exec(select(AuditEvent).where(about).order_by(col(AuditEvent.seq))).all()
        return incident, list(events)


@dataclass(frozen=True)
class AuditFilter:
    """`incident` selects the events recorded against that incident (opened, updated,
    routed, silenced, status changes); the other fields narrow further. `since`/`until`
    bound the recording time."""

    incident: int | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


def audit_events(store: Store, filters: AuditFilter) -> list[AuditEvent]:
    """Audit events matching `filters`, oldest first (the newest `limit` of them)."""
    query = select(AuditEvent)
    if filters.incident is not None:
        query = query.where(
            AuditEvent.entity_type == "incident", AuditEvent.entity_id == str(filters.incident)
        )
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action:
        # "incident" matches every incident.* action; "incident.opened" just that one.
        query = query.where(
            (col(AuditEvent.action) == filters.action)
            | col(AuditEvent.action).startswith(filters.action.rstrip(".") + ".")
        )
    if filters.since:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.at < filters.until)
    query = query.order_by(col(AuditEvent.seq).desc()).limit(filters.limit)
    with store.session(readonly=True) as session:
        return list(reversed(session.exec(query).all()))


def recorded_actions(store: Store) -> list[str]:
    """The distinct actions in the store's audit trail, sorted."""
    with store.session(readonly=True) as session:
        return sorted(session.exec(select(AuditEvent.action).distinct()).all())


def audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "payload": event.payload,
        "hash": event.hash,
    }
