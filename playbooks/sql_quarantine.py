"""Quarantine for tables (PostgreSQL, DuckDB): exclude a window's rows, never delete them.

A table's rows cannot be moved aside like files, and Warden does not own the table. So the
quarantine is recorded next to it, in the same database:

- `warden_quarantine` holds one row per quarantined window: the table, the incident, the
  plan hash, the window (`time_start`, `time_end` as naive UTC for people to read, and as
  epoch seconds for matching, so a zoned or naive time column compares the same in both
  engines), when it was quarantined and when released (NULL while in force);
- the view `<table>_clean` selects the table's rows outside every window in force. Point
  consumers (training jobs, feature pipelines) at it.

Warden's own reads of the table leave the windows in force out too
(`detectors.sources.sql`), so a verification scan sees the table as consumers of the view
do. Releasing sets `released_at`; the rows were never touched.

Every statement is idempotent (`CREATE ... IF NOT EXISTS`, `ON CONFLICT DO NOTHING`,
`CREATE OR REPLACE VIEW`, an UPDATE guarded by `released_at IS NULL`), so a rerun after a
crash finishes the job without doing anything twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from detectors.sources.quarantine_table import QUARANTINE_TABLE

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
    source_table VARCHAR NOT NULL,
    incident_id BIGINT NOT NULL,
    plan_hash VARCHAR NOT NULL,
    time_start TIMESTAMP NOT NULL,
    time_end TIMESTAMP NOT NULL,
    start_epoch DOUBLE PRECISION NOT NULL,
    end_epoch DOUBLE PRECISION NOT NULL,
    rows_excluded BIGINT NOT NULL,
    quarantined_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    UNIQUE (source_table, incident_id, plan_hash)
)"""


def clean_view_name(table: str) -> str:
    return f"{table}_clean"


def check_identifier(table: str) -> str:
    """`table` (or `schema.table`) if it is a plain SQL identifier; it is written into SQL."""
    if not _IDENTIFIER.match(table):
        raise ValueError(
            f"table name {table!r} is not a plain identifier (letters, digits, _ and one "
            "optional schema prefix); quarantine writes it into SQL and refuses anything else"
        )
    return table


@contextmanager
def connected(engine: str, url: str) -> Iterator[Any]:
    """A DB-API connection to the dataset's database, committed on success."""
    if engine == "postgres":
        import psycopg

        connection: Any = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    else:
        import duckdb

        connection = duckdb.connect(url.removeprefix("duckdb://"))
    try:
        yield connection
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def exclude_window(
    engine: str,
    url: str,
    *,
    table: str,
    time_column: str,
    incident_id: int,
    plan_hash: str,
    start: datetime,
    end: datetime,
    rows: int,
) -> str:
    """Record the window and (re)create the clean view; returns `excluded` or `already
    excluded`."""
    check_identifier(table)
    check_identifier(time_column)
    with connected(engine, url) as connection:
        cursor = connection.cursor()
        cursor.execute(_CREATE)
        cursor.execute(
            f"SELECT count(*) FROM {QUARANTINE_TABLE} "
            "WHERE source_table = %s AND incident_id = %s AND plan_hash = %s".replace(
                "%s", _placeholder(engine)
            ),
            (table, incident_id, plan_hash),
        )
        (existing,) = cursor.fetchone()
        cursor.execute(
            f"INSERT INTO {QUARANTINE_TABLE} (source_table, incident_id, plan_hash, time_start, "
            "time_end, start_epoch, end_epoch, rows_excluded, quarantined_at) VALUES "
            f"({', '.join([_placeholder(engine)] * 9)}) ON CONFLICT DO NOTHING",
            (
                table,
                incident_id,
                plan_hash,
                _naive(start),
                _naive(end),
                start.timestamp(),
                end.timestamp(),
                rows,
                _naive(datetime.now(UTC)),
            ),
        )
        cursor.execute(_view_sql(table, time_column))
    return "already excluded" if existing else "excluded"


def release_window(engine: str, url: str, *, table: str, incident_id: int, plan_hash: str) -> str:
    """Mark the window released; returns `released` or `not in force`."""
    check_identifier(table)
    mark = _placeholder(engine)
    with connected(engine, url) as connection:
        cursor = connection.cursor()
        cursor.execute(_CREATE)
        cursor.execute(
            f"UPDATE {QUARANTINE_TABLE} SET released_at = {mark} WHERE source_table = {mark} "
            f"AND incident_id = {mark} AND plan_hash = {mark} AND released_at IS NULL",
            (_naive(datetime.now(UTC)), table, incident_id, plan_hash),
        )
        changed = cursor.rowcount
    return "released" if changed and changed > 0 else "not in force"


def windows_in_force(engine: str, url: str, table: str) -> list[dict[str, Any]]:
    """The windows currently excluded from `table` (for checks and listings)."""
    with connected(engine, url) as connection:
        cursor = connection.cursor()
        cursor.execute(_CREATE)
        mark = _placeholder(engine)
        cursor.execute(
            f"SELECT incident_id, time_start, time_end, rows_excluded FROM {QUARANTINE_TABLE} "
            f"WHERE source_table = {mark} AND released_at IS NULL ORDER BY incident_id",
            (table,),
        )
        return [
            {"incident_id": i, "start": s, "end": e, "rows": n} for i, s, e, n in cursor.fetchall()
        ]


def _view_sql(table: str, time_column: str) -> str:
    # date_part('epoch', ...) is UTC seconds for a naive (UTC by convention) or a zoned
    # column, in PostgreSQL and DuckDB alike.
    return (
        f"CREATE OR REPLACE VIEW {clean_view_name(table)} AS SELECT t.* FROM {table} t "
        f"WHERE NOT EXISTS (SELECT 1 FROM {QUARANTINE_TABLE} q "
        f"WHERE q.source_table = '{table}' AND q.released_at IS NULL "
        f"AND date_part('epoch', t.{time_column}) >= q.start_epoch "
        f"AND date_part('epoch', t.{time_column}) < q.end_epoch)"
    )


def _placeholder(engine: str) -> str:
    return "%s" if engine == "postgres" else "?"


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
