"""The dataset versions scans read (migration 0014).

One row per (dataset, version id): what the id stands for (`details`: a manifest of files,
a table version's commit and files, window fingerprints; `detectors.versions`), the
dataset's columns then, when scans first and last read it and through which scan runs,
and how many scans did. Each scan run names the version it read (`scan_run.dataset_version`),
so `warden versions list` and an incident's evidence can say which data a result is about.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from daemon.store.columns import json_column, stamp_column

#: The longest version id stored (Delta versions and Iceberg snapshot ids are short, file
#: manifests and SQL fingerprints are 16 hex characters).
MAX_VERSION_ID = 128


class DatasetVersionRecord(SQLModel, table=True):
    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset", "version", name="uq_dataset_version_dataset"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(max_length=200)
    version: str = Field(max_length=MAX_VERSION_ID)
    kind: str = Field(max_length=16)
    details: dict[str, Any] = json_column()
    columns: dict[str, Any] = json_column()
    first_seen_at: datetime = stamp_column()
    last_seen_at: datetime = stamp_column()
    first_scan_run_id: int | None = Field(default=None)
    last_scan_run_id: int | None = Field(default=None)
    scans: int = Field(default=1)
