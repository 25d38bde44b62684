"""Compiled queries kept for the next process.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 16:30:00

- `compiled_query`: one row per query compiled by a scan (`daemon.scan.plan_archive`): its
  plan id (primary key), the table identity and code version it belongs to (both indexed:
  a process reads one identity's plans of its own version at once, and deletes other
  versions'), the plan as JSON text, and when it was kept. A cache: emptying the table
  only costs the next scans a compile.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compiled_query",
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("identity_id", sa.String(64), nullable=False),
        sa.Column("code_version", sa.String(32), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", name="pk_compiled_query"),
    )
    op.create_index("ix_compiled_query_identity_id", "compiled_query", ["identity_id"])
    op.create_index("ix_compiled_query_code_version", "compiled_query", ["code_version"])


def downgrade() -> None:
    op.drop_index("ix_compiled_query_code_version", table_name="compiled_query")
    op.drop_index("ix_compiled_query_identity_id", table_name="compiled_query")
    op.drop_table("compiled_query")
