"""Read-only queries over the store for the CLI (and later the HTTP API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from daemon.routing import default_route
from daemon.store.engine import Store
from daemon.store.models import AuditEvent, Incident


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
        "proposed_action": default_route(incident.pattern).describe(),
    }


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
    """The incident and its timeline: the audit events about it, oldest first."""
    with store.session(readonly=True) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None, []
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "incident", AuditEvent.entity_id == str(incident_id))
            .order_by(col(AuditEvent.seq))
        ).all()
        return incident, list(events)
