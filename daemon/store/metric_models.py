"""Every scan's window metrics as time series (migration 0016).

One row per (monitor, column, metric, window end): the value a scan measured (row count,
null rate, mean, distinct count, minimum, maximum), and for `metric_anomaly` monitors the
band it was judged against and the verdict. `column_name` is "" for dataset-level metrics
(`row_count`); a rescan of the same window (`warden scan --at`) replaces its points.
`origin` says whether a scan measured the point or a `metric_anomaly` scan computed it from
the data for a past window no scan had measured (`backfill`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from daemon.store.columns import stamp_column, time_column
from daemon.store.types import UTCDateTime


class MetricPoint(SQLModel, table=True):
    __tablename__ = "metric_point"
    __table_args__ = (
        UniqueConstraint(
            "monitor", "column_name", "metric", "window_end", name="uq_metric_point_series_end"
        ),
        Index("ix_metric_point_series", "monitor", "metric", "column_name", "window_end"),
    )

    id: int | None = Field(default=None, primary_key=True)
    monitor: str = Field(max_length=200)
    dataset: str = Field(max_length=200)
    column_name: str = Field(default="", max_length=200)
    metric: str = Field(max_length=32)
    window_start: datetime | None = time_column()
    window_end: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    value: float | None = Field(default=None)
    origin: str = Field(default="scan", max_length=16)
    scan_run_id: int | None = Field(default=None)
    anomalous: bool | None = Field(default=None)
    expected: float | None = Field(default=None)
    expected_low: float | None = Field(default=None)
    expected_high: float | None = Field(default=None)
    recorded_at: datetime = stamp_column()
