"""Metric history: every scan's window metrics as time series.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 07:30:00

- `metric_point` (`daemon.store.metric_models.MetricPoint`): one row per (monitor, column,
  metric, window end), with the band and verdict of `metric_anomaly` monitors.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "metric_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("column_name", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("window_start", _time(), nullable=True),
        sa.Column("window_end", _time(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("scan_run_id", sa.Integer(), nullable=True),
        sa.Column("anomalous", sa.Boolean(), nullable=True),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("expected_low", sa.Float(), nullable=True),
        sa.Column("expected_high", sa.Float(), nullable=True),
        sa.Column("recorded_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metric_point"),
        sa.UniqueConstraint(
            "monitor", "column_name", "metric", "window_end", name="uq_metric_point_series_end"
        ),
    )
    op.create_index(
        "ix_metric_point_series",
        "metric_point",
        ["monitor", "metric", "column_name", "window_end"],
    )


def downgrade() -> None:
    op.drop_index("ix_metric_point_series", table_name="metric_point")
    op.drop_table("metric_point")
