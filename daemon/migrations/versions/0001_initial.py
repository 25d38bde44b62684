"""Initial schema: the core records of DESIGN.md.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written by hand from `daemon.store.models` (the storage contract suite checks that the two
agree on both backends). Column types are spelled out rather than imported from Warden, so
this script keeps producing the same schema when the models move on:

- timestamps are ``TIMESTAMP WITH TIME ZONE`` (``DATETIME`` text on SQLite, always UTC);
- JSON columns are JSONB on PostgreSQL, except ``audit_event.payload``, which is plain JSON
  because the audit hash needs the payload's numbers back exactly as written.

On PostgreSQL a trigger makes ``audit_event`` append-only (UPDATE, DELETE and TRUNCATE are
refused). SQLite has no way to stop someone holding the file; there the hash chain is what
detects tampering.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE_INCIDENT = sa.text("status IN ('open', 'acknowledged', 'remediating')")

_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION warden_audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % is not allowed', TG_OP
        USING HINT = 'The audit trail is hash-chained; record a new event instead of '
                     'changing or removing one.';
END;
$$
"""


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table, index and constraint; on PostgreSQL the audit trigger too."""
    op.create_table(
        "monitor",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("config", _json(), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_monitor"),
    )

    op.create_table(
        "scan_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("monitor", sa.String(200), nullable=False),
        sa.Column("scheduled_for", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scan_run"),
        sa.UniqueConstraint("monitor", "scheduled_for", name="uq_scan_run_tick"),
    )
    op.create_index("ix_scan_run_monitor", "scan_run", ["monitor"])

    op.create_table(
        "reference_profile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("window_start", _time(), nullable=True),
        sa.Column("window_end", _time(), nullable=True),
        sa.Column("source_fingerprint", sa.String(64), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("profile", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reference_profile"),
        sa.UniqueConstraint("cache_key", name="uq_reference_profile_cache_key"),
    )
    op.create_index("ix_reference_profile_dataset", "reference_profile", ["dataset"])

    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("monitor", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("pattern", sa.String(100), nullable=False),
        sa.Column("scope", _json(), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("first_seen", _time(), nullable=False),
        sa.Column("last_seen", _time(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("clean_streak", sa.Integer(), nullable=False),
        sa.Column("evidence", _json(), nullable=False),
        sa.Column("previous_incident_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", _time(), nullable=True),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.Column("closed_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_incident"),
        sa.ForeignKeyConstraint(
            ["previous_incident_id"],
            ["incident.id"],
            name="fk_incident_previous_incident_id_incident",
        ),
    )
    for column in ("dataset", "fingerprint", "first_seen", "monitor", "pattern", "status"):
        op.create_index(f"ix_incident_{column}", "incident", [column])
    # At most one active incident per fingerprint: deduplication across daemon replicas.
    op.create_index(
        "uq_incident_active_fingerprint",
        "incident",
        ["fingerprint"],
        unique=True,
        sqlite_where=_ACTIVE_INCIDENT,
        postgresql_where=_ACTIVE_INCIDENT,
    )

    op.create_table(
        "playbook_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("playbook", sa.String(100), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("plan", _json(), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.Column("approval_policy", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("step_log", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("heartbeat_at", _time(), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_playbook_run"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incident.id"], name="fk_playbook_run_incident_id_incident"
        ),
    )
    op.create_index("ix_playbook_run_incident_id", "playbook_run", ["incident_id"])
    op.create_index("ix_playbook_run_status", "playbook_run", ["status"])

    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approval"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["playbook_run.id"], name="fk_approval_run_id_playbook_run"
        ),
    )
    op.create_index("ix_approval_run_id", "approval", ["run_id"])

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("sent_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_message"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_message_dedupe_key"),
    )
    op.create_index("ix_outbox_message_status", "outbox_message", ["status"])

    op.create_table(
        "audit_event",
        # Assigned by the appender under a lock, so no sequence / SERIAL.
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("entity_type", sa.String(50), nullable=False),
        sa.Column("entity_id", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_event"),
        sa.UniqueConstraint("hash", name="uq_audit_event_hash"),
    )
    op.create_index("ix_audit_event_action", "audit_event", ["action"])
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_entity_id", "audit_event", ["entity_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION warden_audit_event_append_only()"
        )
        # Row triggers do not fire on TRUNCATE.
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION warden_audit_event_append_only()"
        )


def downgrade() -> None:
    """Drop everything `upgrade` created (the audit trail included)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS warden_audit_event_append_only()")
    for table in (
        "audit_event",
        "outbox_message",
        "approval",
        "playbook_run",
        "incident",
        "reference_profile",
        "scan_run",
        "monitor",
    ):
        op.drop_table(table)
