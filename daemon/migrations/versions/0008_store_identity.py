"""The store's own identity, so a work_root can tell which store it belongs to.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 19:00:00

- `store_identity`: exactly one row (id 1) holding a random `store_id`, made when the store
  is created (or upgraded). Warden writes it into its work_root (`.warden-store`) and
  refuses a work_root that names another store (`daemon.remediation.work_root`): two
  stores' incident ids collide, so their quarantine manifests would overwrite each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "store_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_identity"),
        sa.CheckConstraint("id = 1", name="ck_store_identity_one_row"),
    )
    op.bulk_insert(
        table, [{"id": 1, "store_id": uuid.uuid4().hex, "created_at": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_table("store_identity")
