"""Run events received from other jobs (`POST /api/lineage`): which job runs read which
dataset versions.

Each input of a valid event (`event_model.OpenLineageRunEvent`) is matched to a configured
dataset by its OpenLineage name (`dataset_names`: the same namespace and name, or a file
below a folder dataset's path), and given the version it read:

1. the event's own `version` facet, when it has one (`facet`);
2. else, for a Delta or Iceberg table, the table's version current at the event's time,
   read by time travel (`table at event time`);
3. else, the latest version a Warden scan recorded before the event's time (`last scan
   before`): what the dataset held then, as far as Warden saw;
4. else none.

An input no configured dataset matches is kept as sent, with no dataset: the event is
accepted and the answer names it, so a misnamed dataset is seen, not silently dropped. The
same event sent twice (same run id, type and time) is recorded once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from daemon.config.models import DatasetConfig, WardenConfig
from daemon.lineage.dataset_names import lineage_name, path_name
from daemon.lineage.event_model import DatasetRef, OpenLineageRunEvent
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.json_safety import bounded_json
from daemon.store.lineage_models import LineageInput, LineageRun
from daemon.store.version_models import DatasetVersionRecord
from detectors.sources.errors import SourceError

log = logging.getLogger(__name__)


@dataclass
class Recorded:
    """What one received event became: its inputs as matched, and whether it was new."""

    run_id: str
    new: bool
    inputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unknown(self) -> list[dict[str, Any]]:
        return [item for item in self.inputs if item["dataset"] is None]


def record_run_event(
    store: Store, config: WardenConfig, event: OpenLineageRunEvent, *, received_by: str
) -> Recorded:
    when = event.eventTime.astimezone(UTC)
    inputs = [_matched(store, config, item, when) for item in event.inputs]
    run_id = str(event.run.runId)
    try:
        with store.session() as session:
            run = LineageRun(
                run_id=run_id,
                job_namespace=event.job.namespace,
                job_name=event.job.name,
                event_type=event.eventType or "OTHER",
                event_time=when,
                producer=event.producer,
                received_by=received_by,
                payload=bounded_json(event.model_dump(mode="json")),
            )
            session.add(run)
            session.flush()
            assert run.id is not None
            for item in inputs:
                session.add(LineageInput(lineage_run_id=run.id, **item))
            append_audit(
                session,
                actor=received_by,
                action="lineage.received",
                entity_type="lineage_run",
                entity_id=str(run.id),
                payload={
                    "run_id": run_id,
                    "job": f"{event.job.namespace}/{event.job.name}",
                    "event_type": run.event_type,
                    "inputs": inputs,
                },
            )
    except IntegrityError:
        return Recorded(run_id, False, inputs)  # the same event, received before
    return Recorded(run_id, True, inputs)


def record_refusal(store: Store, *, received_by: str, reason: str) -> None:
    """Keep a refused event's reason in the audit trail (`lineage.refused`)."""
    with store.session() as session:
        append_audit(
            session,
            actor=received_by,
            action="lineage.refused",
            entity_type="lineage_run",
            entity_id="-",
            payload={"reason": bounded_json(reason)},
        )


def dataset_of(config: WardenConfig, namespace: str, name: str) -> str | None:
    """The configured dataset an OpenLineage (namespace, name) names, if any."""
    own = config.lineage.openlineage.namespace if config.lineage.openlineage else None
    for dataset, settings in config.datasets.items():
        if (namespace, name) == lineage_name(settings) or (namespace == own and name == dataset):
            return dataset
    if namespace == "file" or name.startswith("file://"):
        wanted = path_name(name)
        for dataset, settings in config.datasets.items():
            if settings.path and "://" not in settings.path.removeprefix("file://"):
                root = path_name(settings.path)
                if wanted == root or wanted.startswith(root + "/"):
                    return dataset
    return None


def _matched(
    store: Store, config: WardenConfig, item: DatasetRef, when: datetime
) -> dict[str, Any]:
    dataset = dataset_of(config, item.namespace, item.name)
    version, source = item.version(), "facet"
    if version is None and dataset is not None:
        version, source = _version_then(store, dataset, config.datasets[dataset], when)
    return {
        "namespace": item.namespace[:1000],
        "name": item.name,
        "dataset": dataset,
        "version": version[:128] if version else None,
        "version_source": source if version else None,
    }


def _version_then(
    store: Store, dataset: str, settings: DatasetConfig, when: datetime
) -> tuple[str | None, str]:
    if settings.is_versioned_table:
        try:
            return _table_version_at(dataset, settings, when), "table at event time"
        except SourceError as error:
            log.info("lineage: no version of %s at %s: %s", dataset, when.isoformat(), error)
    with store.session(readonly=True) as session:
        row = session.exec(
            select(DatasetVersionRecord)
            .where(
                DatasetVersionRecord.dataset == dataset,
                col(DatasetVersionRecord.first_seen_at) <= when,
            )
            .order_by(col(DatasetVersionRecord.first_seen_at).desc())
            .limit(1)
        ).first()
    return (row.version if row is not None else None), "last scan before"


def _table_version_at(dataset: str, settings: DatasetConfig, when: datetime) -> str:
    if settings.format == "delta":
        from detectors.sources.delta import open_delta_table

        assert settings.path is not None
        table, _latest = open_delta_table(dataset, settings.path, when)
        return str(table.version())
    from detectors.sources.iceberg import load_iceberg_table, snapshot_at

    assert settings.catalog is not None and settings.table is not None
    loaded = load_iceberg_table(
        dataset,
        catalog_uri=settings.catalog.uri,
        catalog_name=settings.catalog.name,
        table=settings.table,
    )
    return str(snapshot_at(dataset, loaded, settings.table, when).snapshot_id)
