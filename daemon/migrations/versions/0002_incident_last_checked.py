"""Incidents remember the latest scan time that evaluated them.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00

`incident.last_checked_at` is the newest scan time (`--at`, or the scheduled tick) whose
result was applied to the incident. A scan at that time or earlier (a replay, a re-run of
the same tick, a backfill) can no longer count an occurrence twice or resolve an incident a
later scan detected. Existing incidents start from their `last_seen`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "incident", sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE incident SET last_checked_at = last_seen")


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("last_checked_at")
