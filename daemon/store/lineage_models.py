"""OpenLineage events waiting to go out, and gone (migration 0015).

A scan's run event is written here in the same transaction as the scan's result, and sent
afterwards by `daemon.lineage.delivery`: a crash after the scan commits loses no event, and
one before loses the scan and its event together. `run_id` is the event's own run id
(unique), so a delivery retried after a crash sends the very same event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text
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
