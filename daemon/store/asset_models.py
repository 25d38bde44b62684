"""The record Warden keeps of each file of an asset dataset (migration 0013).

One row per (dataset, path): the file's identity when it was last read (size, modification
time in ns, inode: any change means it is read again), what the read found (`status`,
`reason`, sha256, measurements, perceptual hashes; see `detectors.assets.inspect`), the
file's event time (from its path, its modification time or the manifest), and when it was
first and last seen. A file no longer present keeps its row with `gone_at` set, so an
incident can still name it; it is nobody's original any more (duplicates are of present
files).

Hashes are signed 64-bit integers (SQLite and PostgreSQL have no unsigned type); sizes,
times and inodes are 64-bit too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from daemon.store.columns import stamp_column, time_column


class AssetRecord(SQLModel, table=True):
    __tablename__ = "asset_file"
    __table_args__ = (
        UniqueConstraint("dataset", "path", name="uq_asset_file_dataset_path"),
        Index("ix_asset_file_dataset_sha256", "dataset", "sha256"),
        Index("ix_asset_file_dataset_event_time", "dataset", "event_time"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(max_length=200)
    path: str = Field(sa_column=Column(Text, nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    mtime_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    inode: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sha256: str | None = Field(default=None, max_length=64)
    kind: str = Field(default="other", max_length=16)
    format: str | None = Field(default=None, max_length=32)
    width: int | None = None
    height: int | None = None
    aspect: float | None = None
    brightness: float | None = None
    p99: float | None = None
    blur: float | None = None
    phash: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    dhash: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    duration_seconds: float | None = None
    sample_rate: int | None = None
    metrics_version: int = Field(default=1)
    event_time: datetime | None = time_column()
    first_seen_at: datetime = stamp_column()
    checked_at: datetime = stamp_column()
    gone_at: datetime | None = time_column()
