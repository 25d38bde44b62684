"""`ContextTools` over the store and the data: what the agent may read about an incident.

Each tool answers a `ToolResult`; a dataset that cannot be opened is an `error` result the
model sees, not a failure of the proposal.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from agents.tools import ToolResult
from daemon.config.models import WardenConfig
from daemon.remediation.proposals import playbook_context
from daemon.reporting.queries import incident_row
from daemon.store.engine import Store
from daemon.store.models import Incident, PlaybookRun
from detectors.sources.errors import SourceError

#: Most earlier incidents shown, newest first.
PAST_INCIDENTS = 10


class StoreContextTools:
    def __init__(self, store: Store, config: WardenConfig) -> None:
        self.store = store
        self.config = config

    def _incident(self, incident_id: int) -> Incident | None:
        with self.store.session(readonly=True) as session:
            return session.get(Incident, incident_id)

    def incident(self, incident_id: int) -> ToolResult:
        incident = self._incident(incident_id)
        if incident is None:
            return ToolResult("not_found", None, f"there is no incident {incident_id}")
        return ToolResult(
            "ok",
            {
                **incident_row(incident),
                "evidence": incident.evidence,
                "downstream": self._downstream(incident),
            },
        )

    def _downstream(self, incident: Incident) -> dict[str, Any]:
        """The dataset version the detection read and the job runs that read the bad data
        (`daemon.lineage.impact`), or why they are not known."""
        from daemon.lineage.impact import incident_impact

        try:
            with self.store.session(readonly=True) as session:
                return incident_impact(session, self.config, incident).to_dict()
        except Exception as error:  # noqa: BLE001 - the incident is still worth proposing for
            return {"error": f"{type(error).__name__}: {error}"}

    def dataset_schema(self, incident_id: int) -> ToolResult:
        incident = self._incident(incident_id)
        if incident is None:
            return ToolResult("not_found", None, f"there is no incident {incident_id}")
        if incident.dataset not in self.config.datasets:
            return ToolResult("not_found", None, f"dataset {incident.dataset} is not configured")
        settings = self.config.datasets[incident.dataset]
        try:
            with playbook_context(self.config, incident.dataset).source() as source:
                columns = source.columns()
        except SourceError as error:
            return ToolResult("error", None, f"the dataset cannot be read: {error}")
        return ToolResult(
            "ok",
            {
                "dataset": incident.dataset,
                "format": settings.format,
                "time_column": settings.time_column,
                "columns": columns,
            },
        )

    def past_incidents(self, incident_id: int) -> ToolResult:
        incident = self._incident(incident_id)
        if incident is None:
            return ToolResult("not_found", None, f"there is no incident {incident_id}")
        with self.store.session(readonly=True) as session:
            earlier = session.exec(
                select(Incident)
                .where(Incident.fingerprint == incident.fingerprint, Incident.id != incident_id)
                .order_by(col(Incident.id).desc())
                .limit(PAST_INCIDENTS)
            ).all()
            found: list[dict[str, Any]] = []
            for past in earlier:
                runs = session.exec(
                    select(PlaybookRun).where(PlaybookRun.incident_id == past.id)
                ).all()
                found.append(
                    {
                        "id": past.id,
                        "status": past.status,
                        "opened_at": past.first_seen.isoformat(),
                        "resolved_at": past.resolved_at.isoformat() if past.resolved_at else None,
                        "runs": [
                            {"playbook": r.playbook, "params": r.params, "status": r.status}
                            for r in runs
                        ],
                    }
                )
        if not found:
            return ToolResult("not_found", [], "no earlier incident with this fingerprint")
        return ToolResult("ok", found)
