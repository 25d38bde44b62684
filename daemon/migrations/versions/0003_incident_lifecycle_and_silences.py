"""Incident lifecycle fields, routing decisions, and silences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00

- `incident.closed_at` and `incident.false_alarm`: when a person closed an incident, and
  whether they called it a false alarm (counted by `warden report`).
- `incident.route`: the routing decision taken when the incident opened (playbook, params,
  approval policy, channel, the rule that matched).
- `incident.silenced_by`: the silence or maintenance window that covered its latest
  detection.
- `silence`: silences made at run time (`warden silences add`, Slack's "Silence 24h").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("closed_at", _time(), nullable=True))
        batch.add_column(
            sa.Column("false_alarm", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch.add_column(
            sa.Column(
                "route",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("silenced_by", sa.String(200), nullable=True))

    op.create_table(
        "silence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=True),
        sa.Column("monitor", sa.String(200), nullable=True),
        sa.Column("pattern", sa.String(100), nullable=True),
        sa.Column("starts_at", _time(), nullable=False),
        sa.Column("ends_at", _time(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expired_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_silence"),
    )
    op.create_index("ix_silence_ends_at", "silence", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_silence_ends_at", table_name="silence")
    op.drop_table("silence")
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("silenced_by")
        batch.drop_column("route")
        batch.drop_column("false_alarm")
        batch.drop_column("closed_at")
