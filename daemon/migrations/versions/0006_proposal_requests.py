"""Proposal requests: planning leaves the scan's path.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:00:00

- `proposal_request`: "this incident needs a proposal", written in the scan's transaction
  that routed the incident to a playbook, and claimed, planned and retried afterwards by a
  daemon or `warden runs plan`. At most one open (pending or planning) request per incident.
- Incidents routed to a playbook before this migration that have no run yet get a pending
  request, so what a crash left unplanned is planned now.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('pending', 'planning')"


def upgrade() -> None:
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "proposal_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", stamp, nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", stamp, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name="fk_proposal_request_incident_id_incident"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["playbook_run.id"], name="fk_proposal_request_run_id_playbook_run"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_proposal_request"),
    )
    op.create_index("ix_proposal_request_incident_id", "proposal_request", ["incident_id"])
    op.create_index("ix_proposal_request_status", "proposal_request", ["status"])
    op.create_index(
        "uq_proposal_request_open_incident",
        "proposal_request",
        ["incident_id"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )
    _request_pending_plans()


def _request_pending_plans() -> None:
    """Routed to a playbook, still active, and never given a run: what a crash between a
    scan's commit and its planning left behind before this queue existed."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT i.id, i.route FROM incident i "
            "WHERE i.status IN ('open', 'acknowledged', 'remediating') "
            "AND NOT EXISTS (SELECT 1 FROM playbook_run r WHERE r.incident_id = i.id) "
            "ORDER BY i.id"
        )
    ).all()
    now = datetime.now(UTC)
    wanted = []
    for incident_id, route in rows:
        decision = json.loads(route) if isinstance(route, str) else route
        if isinstance(decision, dict) and decision.get("playbook"):
            wanted.append(
                {
                    "incident_id": incident_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    if wanted:
        stamp = sa.DateTime(timezone=True)
        table = sa.table(
            "proposal_request",
            sa.column("incident_id", sa.Integer()),
            sa.column("status", sa.String()),
            sa.column("attempts", sa.Integer()),
            sa.column("next_attempt_at", stamp),
            sa.column("created_at", stamp),
            sa.column("updated_at", stamp),
        )
        op.bulk_insert(table, wanted)


def downgrade() -> None:
    op.drop_index("uq_proposal_request_open_incident", table_name="proposal_request")
    op.drop_index("ix_proposal_request_status", table_name="proposal_request")
    op.drop_index("ix_proposal_request_incident_id", table_name="proposal_request")
    op.drop_table("proposal_request")
