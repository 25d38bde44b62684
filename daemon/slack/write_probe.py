"""Whether the store accepts a write right now: behind `/readyz`, and behind the Slack
inbox's choice between "this spooled file is bad" and "the store is".

The probe inserts a well-formed `slack_interaction` row in a transaction that it then rolls
back, so nothing is left behind. It exercises what a real write of the inbox needs: a
writable transaction (a PostgreSQL replica or `default_transaction_read_only`, a read-only
SQLite file refuse it), SQLite's write lock, the table's constraints and triggers. It cannot
prove that a commit would find room on the disk. The row's id is -1, which no real row has,
so PostgreSQL's id sequence is not advanced (no gaps in ids from probing); two probes at
once wait on each other's row for a moment, never on real rows.

It waits for locks at most `LOCK_TIMEOUT_SECONDS` on PostgreSQL; on SQLite the store's busy
timeout applies (10 s, `daemon.store.engine`). It lives beside the inbox, its first user,
though it is about the store: `daemon/store` was outside the change that added it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError

from daemon.store.engine import Store
from daemon.store.errors import driver_reason
from daemon.store.models import SlackInteraction
from daemon.store.types import utcnow

#: How long the probe waits for a lock on PostgreSQL, in seconds.
LOCK_TIMEOUT_SECONDS = 2
PROBE_ROW_ID = -1
PROBE_KEY = "warden:write-probe"
_TABLE: Any = SlackInteraction.__table__  # type: ignore[attr-defined]


def write_problem(store: Store) -> str | None:
    """None when the store accepted a write (rolled back), else what it answered."""
    row = {
        "id": PROBE_ROW_ID,
        "dedupe_key": PROBE_KEY,
        "source": "probe",
        "action": "probe",
        "payload": {},
        "received_at": utcnow(),
        "status": "probe",
    }
    try:
        with store.connect() as connection:
            transaction = connection.begin()
            try:
                if store.backend == "postgresql":
                    connection.exec_driver_sql(
                        f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"
                    )
                connection.execute(insert(_TABLE).values(**row))
            finally:
                transaction.rollback()
    except (SQLAlchemyError, OSError) as error:
        return describe(error)
    return None


def describe(error: BaseException) -> str:
    """`error` on one line: its type and the driver's message, trimmed."""
    return f"{type(error).__name__}: {driver_reason(error)}"
