"""Agent threads kept as rows, not rebuilt from audit payloads.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 22:30:00

- `agent_thread`: one row per conversation of the agent about an incident
  (`daemon.store.models.AgentThread`): its thread id, incident, number there, who asked,
  status (`running`, `waiting`, `done`, `failed`), the run its last proposal made and the
  graph's last outcome.
- Existing stores keep what their audit trail says: each `agent.started` event becomes a
  thread; a thread whose last proposal's run has no `agent.decided` or `agent.failed`
  event after it is `waiting` for that run (the daemon resumes it once the run is
  decided), any other is `done` (`failed` when its last event says so). The audit events
  themselves are not changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The agent's audit actions this migration reads.
_AGENT_ACTIONS = ("agent.started", "agent.proposed", "agent.decided", "agent.failed")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    table = op.create_table(
        "agent_thread",
        sa.Column("thread_id", sa.String(100), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name="pk_agent_thread"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name="fk_agent_thread_incident_id_incident"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["playbook_run.id"], name="fk_agent_thread_run_id_playbook_run"
        ),
        sa.UniqueConstraint("incident_id", "number", name="uq_agent_thread_incident_id"),
    )
    op.create_index("ix_agent_thread_incident_id", "agent_thread", ["incident_id"])
    op.create_index("ix_agent_thread_status", "agent_thread", ["status"])
    op.create_index("ix_agent_thread_run_id", "agent_thread", ["run_id"])
    rows = _threads_from_audit(op.get_bind())
    if rows:
        op.bulk_insert(table, rows)


def _threads_from_audit(bind: Any) -> list[dict[str, Any]]:
    """One row per `agent.started` event, its status read from the events after it."""
    audit = sa.table(
        "audit_event",
        sa.column("seq", sa.Integer()),
        sa.column("at", _time()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("entity_id", sa.String()),
        sa.column("payload", sa.JSON()),
    )
    events = bind.execute(
        sa.select(audit.c.at, audit.c.actor, audit.c.action, audit.c.entity_id, audit.c.payload)
        .where(audit.c.action.in_(_AGENT_ACTIONS))
        .order_by(audit.c.seq)
    ).all()
    threads: dict[str, dict[str, Any]] = {}
    for at, actor, action, entity_id, raw in events:
        payload = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        thread_id = payload.get("thread_id")
        if not isinstance(thread_id, str):
            continue
        when = at if isinstance(at, datetime) else datetime.now(UTC)
        if action == "agent.started":
            threads[thread_id] = {
                "thread_id": thread_id,
                "incident_id": int(entity_id),
                "number": int(thread_id.rsplit("-", 1)[-1]),
                "requested_by": actor,
                "status": "running",
                "run_id": None,
                "outcome": None,
                "created_at": when,
                "updated_at": when,
            }
            continue
        thread = threads.get(thread_id)
        if thread is None:
            continue
        thread["updated_at"] = when
        if action == "agent.proposed" and payload.get("run_id") is not None:
            thread.update(status="waiting", run_id=int(payload["run_id"]), outcome="proposed")
        elif action == "agent.decided":
            thread.update(status="done", outcome=str(payload.get("decision", "decided")))
        elif action == "agent.failed":
            thread.update(status="failed", outcome=str(payload.get("reason", ""))[:2000])
    for thread in threads.values():
        if thread["status"] == "running":  # it never proposed: it ended (or escalated)
            thread["status"] = "done"
    return list(threads.values())


def downgrade() -> None:
    op.drop_index("ix_agent_thread_run_id", table_name="agent_thread")
    op.drop_index("ix_agent_thread_status", table_name="agent_thread")
    op.drop_index("ix_agent_thread_incident_id", table_name="agent_thread")
    op.drop_table("agent_thread")
