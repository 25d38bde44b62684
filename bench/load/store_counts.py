"""The store under the daemon: a scratch PostgreSQL database, write counters, scan rows, size.

Writes are counted per table and operation. On SQLite, AFTER INSERT/UPDATE/DELETE triggers
bump a counter row (one extra update per row written, inside the same transaction); on
PostgreSQL the counts come from `pg_stat_user_tables`, since triggers there would serialise
concurrent scans on the counter row. PostgreSQL flushes a backend's statistics up to 10 s
after its last transaction, so snapshots need some quiet before them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, text
from sqlalchemy.pool import NullPool
from sqlmodel import col, select

from daemon.runtime.missed_ticks import PATTERN as MISSED_TICKS_PATTERN
from daemon.store.engine import Store
from daemon.store.models import ACTIVE_INCIDENT_STATUSES, ALL_TABLES, Incident, ScanRun
from daemon.store.urls import parse_store_url

COUNTER_TABLE = "bench_write_count"
OPERATIONS = ("insert", "update", "delete")
TABLE_NAMES = [table.__tablename__ for table in ALL_TABLES]

#: Rows written, by table then operation.
WriteCounts = dict[str, dict[str, int]]


@contextmanager
def scratch_postgres(server_url: str, keep: bool) -> Iterator[str]:
    """A fresh database on the server of `server_url`, dropped afterwards unless `keep`."""
    server = parse_store_url(server_url)
    name = f"warden_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept scratch database {name}", file=sys.stderr)
        else:
            with admin.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def install_write_counters(store: Store) -> None:
    """SQLite only: a counter row per (table, operation), bumped by AFTER triggers."""
    with store.connect() as connection, connection.begin():
        connection.exec_driver_sql(
            f"CREATE TABLE {COUNTER_TABLE} (tbl TEXT NOT NULL, op TEXT NOT NULL, "
            "n INTEGER NOT NULL, PRIMARY KEY (tbl, op))"
        )
        for table in TABLE_NAMES:
            for operation in OPERATIONS:
                connection.exec_driver_sql(
                    f"INSERT INTO {COUNTER_TABLE} VALUES ('{table}', '{operation}', 0)"
                )
                connection.exec_driver_sql(
                    f"CREATE TRIGGER bench_count_{table}_{operation} AFTER {operation.upper()} "
                    f"ON {table} BEGIN UPDATE {COUNTER_TABLE} SET n = n + 1 "
                    f"WHERE tbl = '{table}' AND op = '{operation}'; END"
                )


def write_counts(store: Store) -> WriteCounts:
    """Rows inserted / updated / deleted so far, per table."""
    counts = {table: dict.fromkeys(OPERATIONS, 0) for table in TABLE_NAMES}
    with store.connect(readonly=True) as connection:
        if store.backend == "sqlite":
            rows = connection.exec_driver_sql(f"SELECT tbl, op, n FROM {COUNTER_TABLE}")
            for table, operation, number in rows:
                counts[table][operation] = number
        else:
            rows = connection.exec_driver_sql(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"
            )
            for table, inserted, updated, deleted in rows:
                if table in counts:
                    counts[table] = dict(zip(OPERATIONS, (inserted, updated, deleted), strict=True))
    return counts


def write_deltas(before: WriteCounts, after: WriteCounts) -> WriteCounts:
    """Rows written between two `write_counts` snapshots."""
    return {
        table: {
            operation: after[table][operation] - before[table][operation]
            for operation in OPERATIONS
        }
        for table in TABLE_NAMES
    }


def store_bytes(store: Store) -> int:
    """The store's size: the database's on PostgreSQL, the file and its journals on SQLite."""
    if store.backend == "postgresql":
        with store.connect(readonly=True) as connection:
            return int(
                connection.exec_driver_sql(
                    "SELECT pg_database_size(current_database())"
                ).scalar_one()
            )
    database = Path(store.url.database or "")
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))


@dataclass(frozen=True)
class Scan:
    monitor: str
    scheduled_for: datetime
    started_at: datetime
    finished_at: datetime | None
    status: str
    error: str | None
    claimed_by: str | None  # the daemon's identity, `host:pid:token`

    @property
    def lag(self) -> float:
        """Seconds from the tick to the claim of its row."""
        return (self.started_at - self.scheduled_for).total_seconds()

    @property
    def claimant_pid(self) -> int | None:
        parts = (self.claimed_by or "").split(":")
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def scans(store: Store, since: datetime, until: datetime | None = None) -> list[Scan]:
    """Scan runs scheduled in [since, until) (without their result JSON)."""
    query = select(
        ScanRun.monitor,
        ScanRun.scheduled_for,
        ScanRun.started_at,
        ScanRun.finished_at,
        ScanRun.status,
        ScanRun.error,
        ScanRun.claimed_by,
    ).where(col(ScanRun.scheduled_for) >= since)
    if until is not None:
        query = query.where(col(ScanRun.scheduled_for) < until)
    with store.session(readonly=True) as session:
        return [Scan(*row) for row in session.exec(query).all()]


def scan_run_total(store: Store) -> int:
    with store.session(readonly=True) as session:
        return int(session.exec(select(func.count()).select_from(ScanRun)).one())


def missed_ticks_incidents(store: Store) -> dict[str, Any]:
    """The `missed_ticks` incidents in the store (a fresh one: all opened during the run)."""
    with store.session(readonly=True) as session:
        rows = session.exec(
            select(Incident.monitor, Incident.status, Incident.occurrences).where(
                col(Incident.pattern) == MISSED_TICKS_PATTERN
            )
        ).all()
    return {
        "opened": len(rows),
        "active_at_end": sum(status in ACTIVE_INCIDENT_STATUSES for _, status, _ in rows),
        "occurrences": sum(occurrences for _, _, occurrences in rows),
        "monitors": sorted(monitor for monitor, _, _ in rows)[:5],
    }
