"""The store's record of dataset versions (`daemon.store.version_models`): written by each
scan in its result's transaction, read by `warden versions` and by incidents.

Two scans (two replicas, or a scan and a replay) may read the same new version at once;
the second insert of (dataset, version) loses to the unique constraint inside a savepoint
and updates the row the first wrote instead, so neither scan fails.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from daemon.store.json_safety import bounded_json
from daemon.store.version_models import DatasetVersionRecord
from detectors.versions.base import DatasetVersion
from detectors.versions.diff import total_rows


def record_version(
    session: Session, dataset: str, version: DatasetVersion, *, scan_run_id: int, at: datetime
) -> DatasetVersionRecord:
    """Count one more scan (run `scan_run_id`, finished at `at`) of `version`, inserting its
    row on first sight."""
    for _attempt in range(2):
        row = session.exec(
            select(DatasetVersionRecord)
            .where(
                DatasetVersionRecord.dataset == dataset,
                DatasetVersionRecord.version == version.version,
            )
            .with_for_update()
        ).first()
        if row is not None:
            row.last_seen_at, row.last_scan_run_id = at, scan_run_id
            row.scans += 1
            session.add(row)
            return row
        row = DatasetVersionRecord(
            dataset=dataset,
            version=version.version,
            kind=version.kind,
            details=bounded_json(version.details),
            columns=bounded_json(version.schema),
            first_seen_at=at,
            last_seen_at=at,
            first_scan_run_id=scan_run_id,
            last_scan_run_id=scan_run_id,
        )
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            continue  # another scan inserted it meanwhile: count this scan on its row
    raise RuntimeError(f"version {version.version} of {dataset} could not be recorded")


def version_rows(session: Session, dataset: str) -> list[DatasetVersionRecord]:
    """Every recorded version of `dataset`, oldest first."""
    return list(
        session.exec(
            select(DatasetVersionRecord)
            .where(DatasetVersionRecord.dataset == dataset)
            .order_by(col(DatasetVersionRecord.first_seen_at), col(DatasetVersionRecord.id))
        ).all()
    )


def versions_named(
    session: Session, version: str, dataset: str | None = None
) -> list[DatasetVersionRecord]:
    """The recorded versions with id `version` (of `dataset` only, when given)."""
    query = select(DatasetVersionRecord).where(DatasetVersionRecord.version == version)
    if dataset is not None:
        query = query.where(DatasetVersionRecord.dataset == dataset)
    return list(session.exec(query.order_by(col(DatasetVersionRecord.dataset))).all())


def as_version(row: DatasetVersionRecord) -> DatasetVersion:
    """A stored version as the detectors know it (`versions diff` compares these)."""
    return DatasetVersion(row.version, row.kind, dict(row.details or {}), dict(row.columns or {}))  # type: ignore[arg-type]


def listed(row: DatasetVersionRecord) -> dict[str, Any]:
    """A version as `warden versions list --json` prints it (the contract: `version`,
    `seen_at`, `scan_run_id`, and more)."""
    details = row.details or {}
    return {
        "dataset": row.dataset,
        "version": row.version,
        "kind": row.kind,
        "seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "scan_run_id": row.first_scan_run_id,
        "last_scan_run_id": row.last_scan_run_id,
        "scans": row.scans,
        "committed_at": details.get("committed_at"),
        "operation": details.get("operation"),
        "files": details.get("file_count"),
        "rows": total_rows(as_version(row)),
        "bytes": details.get("bytes"),
    }
