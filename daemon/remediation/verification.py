"""Verifying a run: did the playbook fix what the incident is about?

A playbook with its own check (a label batch, a synthetic partition) answers itself;
otherwise the incident's monitor is evaluated again at the incident's latest scan time (no
incident is changed), and the run is verified when the incident's pattern is no longer found
for its scope. An empty window (`insufficient_data`) counts as verified: the bad data is out
of it.
"""

from __future__ import annotations

from daemon.config.models import WardenConfig
from daemon.scan.evaluators import ScanContext
from daemon.scan.runner import evaluate
from daemon.store.engine import Store
from daemon.store.models import Incident
from detectors.results import Status
from playbooks.base import Plan, Playbook, PlaybookContext


def verify_run(
    config: WardenConfig,
    store: Store,
    incident: Incident,
    unit: tuple[Playbook, Plan, PlaybookContext],
) -> tuple[bool, str]:
    """The playbook's own check when it has one, else the incident's monitor again."""
    playbook, plan, context = unit
    own = playbook.verify(plan, context)
    return (own.ok, own.detail) if own else verify_incident(config, store, incident)


def verify_incident(config: WardenConfig, store: Store, incident: Incident) -> tuple[bool, str]:
    """Evaluate the incident's monitor again at its latest scan time (no incident changes)."""
    try:
        monitor = config.monitor(incident.monitor)
    except KeyError:
        return False, f"monitor {incident.monitor!r} is no longer in the config"
    at = incident.last_checked_at or incident.last_seen
    result = evaluate(ScanContext(config, monitor, at, store)).result
    if result.status == Status.error:
        return False, f"the monitor could not be evaluated: {result.message}"
    if result.status == Status.insufficient_data:
        return True, "the affected window holds no data any more"
    scope = incident.scope or {}
    still = [
        finding
        for finding in result.alerts
        if finding.pattern == incident.pattern
        and all(finding.details.get(key) == value for key, value in scope.items())
    ]
    if still:
        columns = ", ".join(sorted({f.column or "-" for f in still}))
        return False, f"{incident.pattern} is still found ({columns})"
    return True, f"{incident.pattern} is no longer found at {at.isoformat()}"
