"""OpenLineage: events of scans going out, job runs coming in.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 06:00:00

- `lineage_event` (`daemon.store.lineage_models.LineageEvent`): one row per run event,
  written with the scan's result, delivered afterwards.
- `lineage_run` and `lineage_input` (`LineageRun`, `LineageInput`): run events received
  from other jobs, and the dataset versions each read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lineage_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(20), nullable=False),
        sa.Column("scan_run_id", sa.Integer(), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=False),
        sa.Column("claimed_until", _time(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("sent_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_event"),
        sa.UniqueConstraint("run_id", name="uq_lineage_event_run_id"),
    )
    op.create_index("ix_lineage_event_scan_run_id", "lineage_event", ["scan_run_id"])
    op.create_index("ix_lineage_event_status", "lineage_event", ["status"])
    op.create_table(
        "lineage_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("job_namespace", sa.String(1000), nullable=False),
        sa.Column("job_name", sa.String(1000), nullable=False),
        sa.Column("event_type", sa.String(20), nullable=False),
        sa.Column("event_time", _time(), nullable=False),
        sa.Column("producer", sa.String(1000), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_run"),
        sa.UniqueConstraint("run_id", "event_type", "event_time", name="uq_lineage_run_run_id"),
    )
    op.create_table(
        "lineage_input",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lineage_run_id", sa.Integer(), nullable=False),
        sa.Column("namespace", sa.String(1000), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("version_source", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_input"),
    )
    op.create_index("ix_lineage_input_lineage_run_id", "lineage_input", ["lineage_run_id"])
    op.create_index("ix_lineage_input_dataset_version", "lineage_input", ["dataset", "version"])


def downgrade() -> None:
    op.drop_index("ix_lineage_input_dataset_version", table_name="lineage_input")
    op.drop_index("ix_lineage_input_lineage_run_id", table_name="lineage_input")
    op.drop_table("lineage_input")
    op.drop_table("lineage_run")
    op.drop_index("ix_lineage_event_status", table_name="lineage_event")
    op.drop_index("ix_lineage_event_scan_run_id", table_name="lineage_event")
    op.drop_table("lineage_event")
