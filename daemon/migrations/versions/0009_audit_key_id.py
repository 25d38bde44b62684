"""Keyed audit events: which key signed an event.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:00:00

- `audit_event.key_id`: null for an event hashed with plain sha256; for an event appended
  while `WARDEN_AUDIT_KEY` was set, the id of that key (`daemon.store.audit.key_id`), and
  its hash is an HMAC-SHA256 under the key. Adding a nullable column keeps every existing
  event (and the append-only trigger) as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("key_id")
