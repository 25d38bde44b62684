"""Queue a scan's run event in the store, in the scan's own transaction (`delivery` sends
it later): what a crash after the scan commits cannot lose."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from daemon.config.models import WardenConfig
from daemon.lineage.dataset_names import lineage_name
from daemon.lineage.scan_events import scan_event
from daemon.store.json_safety import bounded_json
from daemon.store.lineage_models import LineageEvent
from daemon.store.types import utcnow
from detectors.versions.base import DatasetVersion

log = logging.getLogger(__name__)


def build_scan_event(
    config: WardenConfig,
    *,
    monitor: str,
    dataset: str,
    at: datetime,
    status: str,
    message: str,
    findings: list[dict[str, Any]],
    metrics: dict[str, Any],
    version: DatasetVersion | None,
) -> LineageEvent | None:
    """The outbox row of a scan's run event (None when lineage is not configured). An
    event that cannot be built is kept as a `failed` row saying why, never dropped."""
    target = config.lineage.openlineage
    if target is None:
        return None
    summary = None
    if version is not None:
        details = {k: version.details.get(k) for k in ("bytes", "file_count")}
        summary = {"version": version.version, "details": details}
    try:
        payload = scan_event(
            namespace=target.namespace,
            monitor=monitor,
            dataset=lineage_name(config.datasets[dataset]),
            at=at,
            finished_at=utcnow(),
            status=status,
            message=message,
            findings=findings,
            metrics=metrics,
            version=summary,
        )
    except Exception as error:  # a bug or a broken install: recorded, visible, not lost
        log.exception("the OpenLineage event of %s could not be built", monitor)
        return LineageEvent(
            run_id=str(uuid.uuid4()),
            event_type="UNBUILT",
            payload={"monitor": monitor, "at": at.isoformat()},
            status="failed",
            last_error=f"the event could not be built: {type(error).__name__}: {error}",
        )
    return LineageEvent(
        run_id=payload["run"]["runId"],
        event_type=payload["eventType"],
        payload=bounded_json(payload),
    )


def queue(session: Session, event: LineageEvent | None, scan_run_id: int) -> None:
    if event is not None:
        event.scan_run_id = scan_run_id
        session.add(event)
