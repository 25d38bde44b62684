"""OpenLineage events: those of scans going out, and job runs received (migration 0015).

A scan's run event is written here in the same transaction as the scan's result, and sent
afterwards by `daemon.lineage.delivery`: a crash after the scan commits loses no event, and
one before loses the scan and its event together. `run_id` is the event's own run id
(unique), so a delivery retried after a crash sends the very same event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from daemon.store.columns import json_column, stamp_column, time_column


class LineageEvent(SQLModel, table=True):
    __tablename__ = "lineage_event"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=36, unique=True)
    event_type: str = Field(max_length=20)
    scan_run_id: int | None = Field(default=None, index=True)
    payload: dict[str, Any] = json_column()
    #: pending -> sending -> sent | failed (a refusal the destination will give again, or a
    #: day of transient errors); `sending` past `claimed_until` is taken over.
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = stamp_column()
    claimed_until: datetime | None = time_column()
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = stamp_column()
    sent_at: datetime | None = time_column()


class LineageRun(SQLModel, table=True):
    """A run event received from another job (`POST /api/lineage`): a training or batch
    run, its state at `event_time`. Unique on (run id, event type, event time): the same
    event sent twice is recorded once."""

    __tablename__ = "lineage_run"
    __table_args__ = (
        UniqueConstraint("run_id", "event_type", "event_time", name="uq_lineage_run_run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(max_length=64)
    job_namespace: str = Field(max_length=1000)
    job_name: str = Field(max_length=1000)
    event_type: str = Field(max_length=20)
    event_time: datetime = stamp_column()
    producer: str = Field(max_length=1000)
    received_at: datetime = stamp_column()
    received_by: str = Field(max_length=200)
    payload: dict[str, Any] = json_column()


class LineageInput(SQLModel, table=True):
    """A dataset one received run read, matched to a configured dataset (None: unknown
    to Warden, kept as sent), and the version it read, with where that came from:
    `facet` (the event's own `version` facet), `table at event time` (a Delta or Iceberg
    table's version then), `last scan before` (the latest version a scan recorded before
    the event), or None when none is known."""

    __tablename__ = "lineage_input"
    __table_args__ = (Index("ix_lineage_input_dataset_version", "dataset", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    lineage_run_id: int = Field(index=True)
    namespace: str = Field(max_length=1000)
    name: str = Field(sa_column=Column(Text, nullable=False))
    dataset: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=128)
    version_source: str | None = Field(default=None, max_length=32)
