"""Daemon instances: which `warden run` processes are alive, for the reconciler.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:00:00

- `daemon_instance`: one row per daemon process (identity = host:pid:token), with its
  heartbeat and when and why it stopped. A scan still `running` under an identity that has
  stopped or gone silent is resumed by another daemon.
- `ix_scan_run_status`: the reconciler looks for `running` scans every minute.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "daemon_instance",
        sa.Column("identity", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("heartbeat_at", _time(), nullable=False),
        sa.Column("stopped_at", _time(), nullable=True),
        sa.Column("stop_reason", sa.String(50), nullable=True),
        sa.PrimaryKeyConstraint("identity", name="pk_daemon_instance"),
    )
    op.create_index("ix_daemon_instance_heartbeat_at", "daemon_instance", ["heartbeat_at"])
    op.create_index("ix_scan_run_status", "scan_run", ["status"])


def downgrade() -> None:
    op.drop_index("ix_scan_run_status", table_name="scan_run")
    op.drop_index("ix_daemon_instance_heartbeat_at", table_name="daemon_instance")
    op.drop_table("daemon_instance")
