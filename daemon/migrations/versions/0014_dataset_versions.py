"""Dataset versions: what each scan read.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 05:00:00

- `dataset_version`: one row per (dataset, version id) (`daemon.store.version_models`).
- `scan_run.dataset_version`: the id of the version the scan read (null before this
  migration, and when it could not be read).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "dataset_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.Column("columns", _json(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_scan_run_id", sa.Integer(), nullable=True),
        sa.Column("last_scan_run_id", sa.Integer(), nullable=True),
        sa.Column("scans", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_version"),
        sa.UniqueConstraint("dataset", "version", name="uq_dataset_version_dataset"),
    )
    with op.batch_alter_table("scan_run") as batch:
        batch.add_column(sa.Column("dataset_version", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_run") as batch:
        batch.drop_column("dataset_version")
    op.drop_table("dataset_version")
