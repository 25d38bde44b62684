"""Which job runs read the bad data of an incident (`warden lineage impact`).

1. **The bad files**: from the version the incident's detection read (its evidence's
   `dataset_version`), the data files that hold the incident's window:
   - Delta and Iceberg tables: the version's files holding rows of the window, counted by
     DuckDB (`playbooks.versioned.base.rows_in_window`);
   - Parquet and CSV: the version's manifest entries whose footer time range meets the
     window (a file without one, or no longer readable, counts);
   - binary assets: the files the incident's findings name (else every file of the window);
   - SQL tables have no files: the detected version alone is bad.
2. **The versions holding them**: every version Warden recorded of the dataset, or that a
   received job run read, whose files include a bad file (the same path; for manifests the
   same size and digest too, so a file rewritten since is not counted).
3. **The runs**: job runs received through `POST /api/lineage` that read one of those
   versions; runs that read the dataset at an unknown version are listed apart, as runs
   that may have read it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from daemon.config.models import WardenConfig
from daemon.store.lineage_models import LineageInput, LineageRun
from daemon.store.models import Incident
from daemon.store.version_models import DatasetVersionRecord

log = logging.getLogger(__name__)

#: A file as a version holds it: path, and for manifests size and content digest.
FileKey = tuple[str, int | None, str | None]


@dataclass
class Impact:
    incident_id: int
    dataset: str
    detected_version: str | None
    bad_files: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    unknown_version_runs: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "dataset": self.dataset,
            "detected_version": self.detected_version,
            "bad_files": self.bad_files,
            "versions": self.versions,
            "runs": self.runs,
            "unknown_version_runs": self.unknown_version_runs,
            "note": self.note,
        }


def incident_impact(session: Session, config: WardenConfig, incident: Incident) -> Impact:
    evidence = incident.evidence or {}
    detected = (evidence.get("dataset_version") or {}).get("version")
    impact = Impact(incident.id or 0, incident.dataset, detected)
    settings = config.datasets.get(incident.dataset)
    if detected is None or settings is None:
        impact.note = (
            "the incident names no dataset version (detected before versions were recorded)"
            if detected is None
            else f"dataset {incident.dataset!r} is no longer in the config"
        )
        return impact
    recorded = {
        row.version: row
        for row in session.exec(
            select(DatasetVersionRecord).where(DatasetVersionRecord.dataset == incident.dataset)
        ).all()
    }
    inputs = session.exec(
        select(LineageInput, LineageRun)
        .where(LineageInput.dataset == incident.dataset)
        .where(col(LineageInput.lineage_run_id) == col(LineageRun.id))
        .order_by(col(LineageRun.event_time))
    ).all()
    window = (evidence.get("windows") or {}).get("current") or {}
    files = _version_files(config, incident.dataset, detected, recorded.get(detected))
    bad = _bad_files(config, incident, files, window) if files is not None else None
    if bad is None:
        impact.versions = [detected]
        impact.note = "no files to follow: only the detected version is counted"
    else:
        impact.bad_files = sorted({key[0] for key in bad})
        candidates = set(recorded) | {i.version for i, _run in inputs if i.version}
        impact.versions = sorted(
            version
            for version in candidates
            if _holds(config, incident.dataset, version, recorded.get(version), bad)
        )
    chosen = set(impact.versions)
    for item, run in inputs:
        row = _run_row(item, run)
        if item.version in chosen:
            impact.runs.append(row)
        elif item.version is None:
            impact.unknown_version_runs.append(row)
    return impact


def _run_row(item: LineageInput, run: LineageRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "job_namespace": run.job_namespace,
        "job_name": run.job_name,
        "event_type": run.event_type,
        "event_time": run.event_time.isoformat(),
        "version": item.version,
        "version_source": item.version_source,
    }


def _version_files(
    config: WardenConfig, dataset: str, version: str, row: DatasetVersionRecord | None
) -> list[FileKey] | None:
    """The files of `version`: as recorded, else (Delta, Iceberg) read from the table;
    None when it has none (SQL) or they cannot be known."""
    if row is not None:
        listed = (row.details or {}).get("files")
        if not isinstance(listed, list):
            return None
        manifest = row.kind == "files"
        return [
            (
                str(item["path"]),
                int(item["size"]) if manifest else None,
                item.get("digest") if manifest else None,
            )
            for item in listed
            if isinstance(item, dict) and "path" in item
        ]
    settings = config.datasets[dataset]
    if not settings.is_versioned_table:
        return None
    try:
        table = _table(config, dataset)
        return [(item.path, None, None) for item in table.files(version)]
    except Exception as error:  # noqa: BLE001 - a version the table no longer has
        log.info("lineage impact: files of %s version %s unknown: %s", dataset, version, error)
        return None


def _bad_files(
    config: WardenConfig, incident: Incident, files: list[FileKey], window: dict[str, Any]
) -> set[FileKey] | None:
    settings = config.datasets[incident.dataset]
    if settings.is_assets:
        named = _finding_paths(incident)
        return {key for key in files if key[0] in named} if named else set(files)
    start, end = _bounds(window)
    if start is None or end is None:
        return set(files)
    if settings.is_versioned_table:
        from playbooks.versioned.base import rows_in_window

        try:
            table = _table(config, incident.dataset)
            version = (incident.evidence or {})["dataset_version"]["version"]
            found = table.files(version)
            counts = rows_in_window(
                found, settings.time_column, start, end, hive=settings.format == "delta"
            )
        except Exception as error:  # noqa: BLE001 - files gone: every file counts
            log.info("lineage impact: window files of %s unknown: %s", incident.dataset, error)
            return set(files)
        return {key for key in files if key[0] in counts}
    if settings.format == "parquet":
        return {key for key in files if _parquet_meets(key[0], settings.time_column, start, end)}
    return set(files)  # CSV: no time range without reading the data


def _parquet_meets(path: str, time_column: str, start: datetime, end: datetime) -> bool:
    from detectors.sources.file_schemas import read_parquet_schema

    try:
        schema = read_parquet_schema(path, time_column)
    except Exception:  # noqa: BLE001 - gone or unreadable: it may have held the window
        return True
    if schema.start is None or schema.end is None:
        return True
    return schema.overlaps(start, end)


def _holds(
    config: WardenConfig,
    dataset: str,
    version: str,
    row: DatasetVersionRecord | None,
    bad: set[FileKey],
) -> bool:
    files = _version_files(config, dataset, version, row)
    if files is None:
        return False
    return bool(bad.intersection(files))


def _finding_paths(incident: Incident) -> set[str]:
    named: set[str] = set()
    for finding in (incident.evidence or {}).get("findings", []):
        details = finding.get("details") or {}
        named.update(p for p in details.get("paths") or [] if isinstance(p, str))
        for pair in details.get("pairs") or []:
            if isinstance(pair, dict) and isinstance(pair.get("path"), str):
                named.add(pair["path"])
    return named


def _bounds(window: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    def parse(text: Any) -> datetime | None:
        return datetime.fromisoformat(text) if isinstance(text, str) else None

    return parse(window.get("start")), parse(window.get("end"))


def _table(config: WardenConfig, dataset: str) -> Any:
    """The Delta or Iceberg table of `dataset`, as remediation opens it."""
    settings = config.datasets[dataset]
    if settings.format == "delta":
        from playbooks.versioned.delta_table import DeltaVersionedTable

        assert settings.path is not None
        return DeltaVersionedTable(settings.path)
    from playbooks.versioned.iceberg_table import IcebergVersionedTable

    assert settings.catalog is not None and settings.table is not None
    return IcebergVersionedTable(
        dataset,
        catalog_uri=settings.catalog.uri,
        catalog_name=settings.catalog.name,
        table=settings.table,
    )


def impact_of(store: Any, config: WardenConfig, incident_id: int) -> Impact | None:
    """The impact of incident `incident_id` (None: no such incident)."""
    with store.session(readonly=True) as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            return None
        return incident_impact(session, config, incident)
