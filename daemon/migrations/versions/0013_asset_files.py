"""Asset files: the record of each file of a binary asset dataset.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:00:00

- `asset_file`: one row per (dataset, path) (`daemon.store.asset_models.AssetRecord`): the
  file's identity when last read, what the read found, its event time, first and last
  seen, gone. Indexed by (dataset, sha256) for exact duplicates and (dataset, event_time)
  for windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "asset_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("inode", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("format", sa.String(32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("aspect", sa.Float(), nullable=True),
        sa.Column("brightness", sa.Float(), nullable=True),
        sa.Column("p99", sa.Float(), nullable=True),
        sa.Column("blur", sa.Float(), nullable=True),
        sa.Column("phash", sa.BigInteger(), nullable=True),
        sa.Column("dhash", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("metrics_version", sa.Integer(), nullable=False),
        sa.Column("event_time", _time(), nullable=True),
        sa.Column("first_seen_at", _time(), nullable=False),
        sa.Column("checked_at", _time(), nullable=False),
        sa.Column("gone_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_asset_file"),
        sa.UniqueConstraint("dataset", "path", name="uq_asset_file_dataset_path"),
    )
    op.create_index("ix_asset_file_dataset_sha256", "asset_file", ["dataset", "sha256"])
    op.create_index("ix_asset_file_dataset_event_time", "asset_file", ["dataset", "event_time"])


def downgrade() -> None:
    op.drop_index("ix_asset_file_dataset_event_time", table_name="asset_file")
    op.drop_index("ix_asset_file_dataset_sha256", table_name="asset_file")
    op.drop_table("asset_file")
