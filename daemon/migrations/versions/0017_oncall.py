"""On-call: incident groups, escalation firings, PagerDuty rows in the outbox.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:00:00

- `incident_group` (`daemon.store.oncall_models.IncidentGroup`): incidents of one dataset
  and channel opened together, with one Slack parent message, one page and one escalation;
  at most one group per (dataset, channel) accepts members (a partial unique index).
- `escalation_firing`: one row per fired step, unique per (group, generation, step,
  reminder), so replicas fire each step once.
- `incident.group_id`; `outbox_message.transport` (`slack` for every existing row) and
  `outbox_message.group_id`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACCEPTING = sa.text("accepting")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("accepting_until", _ts(), nullable=False),
        sa.Column("accepting", sa.Boolean(), nullable=False),
        sa.Column("lead_incident_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("escalation_started_at", _ts(), nullable=False),
        sa.Column("held_since", _ts(), nullable=True),
        sa.Column("held_seconds", sa.Float(), nullable=False),
        sa.Column("acknowledged_at", _ts(), nullable=True),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("page_dedup_key", sa.String(255), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incident_group"),
    )
    op.create_index("ix_incident_group_dataset", "incident_group", ["dataset"])
    op.create_index("ix_incident_group_status", "incident_group", ["status"])
    op.create_index("ix_incident_group_lead_incident_id", "incident_group", ["lead_incident_id"])
    op.create_index(
        "uq_incident_group_accepting",
        "incident_group",
        ["dataset", "channel"],
        unique=True,
        sqlite_where=_ACCEPTING,
        postgresql_where=_ACCEPTING,
    )
    op.create_table(
        "escalation_firing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("reminder", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("fired_at", _ts(), nullable=False),
        sa.Column("fired_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_escalation_firing"),
        sa.UniqueConstraint(
            "group_id", "generation", "step", "reminder", name="uq_escalation_firing_step"
        ),
    )
    op.create_index("ix_escalation_firing_group_id", "escalation_firing", ["group_id"])
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_index("ix_incident_group_id", ["group_id"])
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(
            sa.Column("transport", sa.String(20), server_default="slack", nullable=False)
        )
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_index("ix_outbox_message_transport", ["transport"])
        batch.create_index("ix_outbox_message_group_id", ["group_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_index("ix_outbox_message_group_id")
        batch.drop_index("ix_outbox_message_transport")
        batch.drop_column("group_id")
        batch.drop_column("transport")
    with op.batch_alter_table("incident") as batch:
        batch.drop_index("ix_incident_group_id")
        batch.drop_column("group_id")
    op.drop_index("ix_escalation_firing_group_id", table_name="escalation_firing")
    op.drop_table("escalation_firing")
    op.drop_index("uq_incident_group_accepting", table_name="incident_group")
    op.drop_index("ix_incident_group_lead_incident_id", table_name="incident_group")
    op.drop_index("ix_incident_group_status", table_name="incident_group")
    op.drop_index("ix_incident_group_dataset", table_name="incident_group")
    op.drop_table("incident_group")
