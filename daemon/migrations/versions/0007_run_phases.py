"""A running playbook run's phase, so a takeover resumes what the run was doing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:30:00

- `playbook_run.phase`: `applying`, `verifying` or `rolling_back` while the run is
  `running` (`daemon.remediation.run_phases`); null before and after. Runs already
  `running` when the store is upgraded were applying (the only phase the old executor
  kept a heartbeat in), so they are marked `applying`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_run") as batch:
        batch.add_column(sa.Column("phase", sa.String(20), nullable=True))
    op.execute("UPDATE playbook_run SET phase = 'applying' WHERE status = 'running'")


def downgrade() -> None:
    with op.batch_alter_table("playbook_run") as batch:
        batch.drop_column("phase")
