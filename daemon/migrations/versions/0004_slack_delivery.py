"""Slack delivery: outbox message kinds, received interactions, who requested a run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00

- `outbox_message.kind` (post | update | reply | ephemeral) and `outbox_message.incident_id`:
  an incident's messages are delivered in order, and updates and replies find the Slack `ts`
  of the incident's message.
- `slack_interaction`: clicks and form submissions from Slack, stored before they are acted
  on; unique on `dedupe_key` so a retried delivery is acted on once.
- `playbook_run.requested_by`: who asked for a proposal; never its only approver.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), server_default="post", nullable=False))
        batch.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        batch.create_index("ix_outbox_message_incident_id", ["incident_id"])
    with op.batch_alter_table("playbook_run") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(200), nullable=True))

    op.create_table(
        "slack_interaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("team_id", sa.String(50), nullable=True),
        sa.Column("user_id", sa.String(50), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("processed_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_slack_interaction"),
        sa.UniqueConstraint("dedupe_key", name="uq_slack_interaction_dedupe_key"),
    )
    op.create_index("ix_slack_interaction_status", "slack_interaction", ["status"])


def downgrade() -> None:
    op.drop_index("ix_slack_interaction_status", table_name="slack_interaction")
    op.drop_table("slack_interaction")
    with op.batch_alter_table("playbook_run") as batch:
        batch.drop_column("requested_by")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_index("ix_outbox_message_incident_id")
        batch.drop_column("incident_id")
        batch.drop_column("kind")
