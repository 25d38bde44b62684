"""Per-person API tokens, and the key that signs report links.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00

- `api_token`: one row per token made with `warden tokens create NAME --person P`: the
  sha256 of its secret (never the secret), its unique name, the person it decides as
  (`api:<person>`), who made it and when, when it was revoked and last used.
- `report_link_key`: exactly one row (id 1) holding 32 random bytes (hex), made here, that
  sign the expiring report links of Slack messages unless `WARDEN_LINK_KEY` is set
  (`daemon.reporting.report_links`). Downgrading drops it: links signed with it stop
  working, and upgrading again makes a new key.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.Column("revoked_by", sa.String(200), nullable=True),
        sa.Column("last_used_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_token"),
        sa.UniqueConstraint("name", name="uq_api_token_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_token_token_hash"),
    )
    op.create_index("ix_api_token_person", "api_token", ["person"])
    table = op.create_table(
        "report_link_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_link_key"),
        sa.CheckConstraint("id = 1", name="ck_report_link_key_one_row"),
    )
    op.bulk_insert(
        table, [{"id": 1, "key": secrets.token_hex(32), "created_at": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_table("report_link_key")
    op.drop_index("ix_api_token_person", table_name="api_token")
    op.drop_table("api_token")
