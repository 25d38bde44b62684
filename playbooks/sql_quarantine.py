"""Quarantine for tables (PostgreSQL, DuckDB): exclude a window's rows, never delete them.

A table's rows cannot be moved aside like files, and Warden does not own the table. So the
quarantine is recorded next to it, in the same database:

- `warden_quarantine` holds one row per quarantined window: the table, the incident, the
  plan hash, the window (`time_start`, `time_end` as naive UTC for people to read, and as
  epoch seconds for matching, so a zoned or naive time column compares the same in both
  engines), when it was quarantined and when released (NULL while in force);
- the view `<table>_clean` (in the table's schema) selects the table's rows outside every
  window in force. Point consumers (training jobs, feature pipelines) at it.

Names are read the way the scanner reads them (`detectors.sources.sql`): `schema.table` or
`table`, each part taken as written, case and all, and every identifier is written into
SQL double-quoted (`"Events"`, `"order"`), never bare, so the view is over exactly the
table the scanner profiles. A table name of more than two parts, or any name holding a
control character, is refused.

Warden replaces only a view it created. It marks its views with a comment (`COMMENT ON
VIEW`, on PostgreSQL and DuckDB alike) whose text is exactly `view_comment(table)`; an
object named like the clean view without that comment (a person's own view, a table, a
view Warden made before it marked them) is left alone and the quarantine refused
(`ForeignObject`, a `PlanRefused`) before anything is written. Drop or rename that object,
or set the comment by hand when the view is Warden's, to let the quarantine proceed.

Warden's own reads of the table leave the windows in force out too
(`detectors.sources.sql`), so a verification scan sees the table as consumers of the view
do. Releasing sets `released_at`; the rows were never touched.

Every statement is idempotent (`CREATE ... IF NOT EXISTS`, `ON CONFLICT DO NOTHING`, the
view replaced with the same text, an UPDATE guarded by `released_at IS NULL`) and one
exclusion runs in one transaction, so a rerun after a crash finishes the job without doing
anything twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from detectors.sources.quarantine_table import QUARANTINE_TABLE
from detectors.timeformat import parse_sql
from playbooks.base import PlanRefused

#: Characters no name may hold: C0 and C1 controls and DEL (a NUL cannot even be stored).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: PostgreSQL cuts longer identifiers (in bytes) without an error, which could name another
#: object; the clean view's name must fit.
POSTGRES_NAME_BYTES = 63

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

# The object named like the clean view, in the table's schema (the current one when the
# name has none): its kind (`v` for a view) and its comment. DuckDB matches names without
# regard to case, as it resolves them; PostgreSQL exactly, as quoted names are.
_EXISTING = {
    "postgres": (
        "SELECT c.relkind::text, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = %s AND n.nspname = COALESCE(%s::text, current_schema())"
    ),
    "duckdb": (
        "SELECT kind, comment FROM ("
        "SELECT 'v' AS kind, comment, schema_name, view_name AS name, database_name "
        "FROM duckdb_views() WHERE NOT internal UNION ALL "
        "SELECT 'r', comment, schema_name, table_name, database_name FROM duckdb_tables()) "
        "WHERE lower(name) = lower(?) AND lower(schema_name) = lower(COALESCE(?, "
        "current_schema())) AND database_name = current_database()"
    ),
}


class ForeignObject(PlanRefused):
    """An object Warden did not create stands where the clean view goes; nothing changed."""


def clean_view_name(table: str) -> str:
    """The clean view of `table` as people write it (`schema.events_clean`)."""
    return f"{table}_clean"


def view_comment(table: str) -> str:
    """The comment that marks the clean view of `table` as Warden's (see the module)."""
    return (
        f"Created by Warden's quarantine: the rows of {table} outside the windows in force "
        f"in {QUARANTINE_TABLE}. Warden replaces this view; do not edit it."
    )


def table_parts(table: str) -> tuple[str, ...]:
    """`(schema, table)` or `(table,)`, as the scanner splits the name; refuses (ValueError)
    empty parts, more than two parts and control characters.

    >>> table_parts('analytics.Events')
    ('analytics', 'Events')
    """
    parts = tuple(table.split("."))
    if len(parts) > 2 or not all(parts) or _CONTROL.search(table):
        raise ValueError(
            f"table name {table!r} is not `table` or `schema.table` with non-empty parts "
            "free of control characters; quarantine refuses to guess what it names"
        )
    return parts


def check_identifier(table: str) -> str:
    """`table` (or `schema.table`) if quarantine can name it in SQL (see `table_parts`)."""
    table_parts(table)
    return table


def check_column(column: str) -> str:
    """`column` if it can be quoted: non-empty, free of control characters. A dot is part
    of a column's name, not a qualifier."""
    if not column or _CONTROL.search(column):
        raise ValueError(f"column name {column!r} is empty or holds control characters")
    return column


def quoted(name: str) -> str:
    """One identifier in double quotes, inner quotes doubled: exactly `name`, any case,
    reserved words included.

    >>> quoted('Order'), quoted('a"b')
    ('"Order"', '"a""b"')
    """
    return '"' + name.replace('"', '""') + '"'


def quoted_table(table: str) -> str:
    """`table` (or `schema.table`) quoted part by part: `"analytics"."Events"`."""
    return ".".join(quoted(part) for part in table_parts(table))


def literal(text: str) -> str:
    """`text` as an SQL string literal (quotes doubled; standard strings, in which a
    backslash is itself, PostgreSQL's default since 9.1 and DuckDB's)."""
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def connected(engine: str, url: str, *, read_only: bool = False) -> Iterator[Any]:
    """A DB-API cursor in one transaction on the dataset's database, committed on success
    and rolled back on any error. `read_only` opens a DuckDB file read-only, as the
    scanner does, so a check does not lock out other readers."""
    if engine == "postgres":
        import psycopg

        connection: Any = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        cursor = connection.cursor()
    else:
        import duckdb

        connection = duckdb.connect(url.removeprefix("duckdb://"), read_only=read_only)
        # DuckDB commits each statement unless a transaction is open, and its `cursor()` is
        # a second connection: run on the connection itself, inside an explicit one.
        connection.begin()
        cursor = connection
    try:
        yield cursor
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def check_clean_view(engine: str, url: str, table: str) -> None:
    """Refuse (`ForeignObject`) when the clean view of `table` could not be (re)created
    without replacing an object Warden did not create, or its name would be cut."""
    with connected(engine, url, read_only=True) as cursor:
        _owned_view(cursor, engine, table)


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
    time_format: str | None = None,
) -> str:
    """Record the window and (re)create the clean view; returns `excluded` or `already
    excluded`. Raises `ForeignObject`, having changed nothing, when the view's name is taken
    by an object Warden did not create. `time_format` is the dataset's, for a text time
    column (the view parses it as the scanner does)."""
    check_identifier(table)
    check_column(time_column)
    with connected(engine, url) as cursor:
        exists = _owned_view(cursor, engine, table)
        cursor.execute(_CREATE)
        mark = _placeholder(engine)
        cursor.execute(
            f"SELECT count(*) FROM {QUARANTINE_TABLE} "
            f"WHERE source_table = {mark} AND incident_id = {mark} AND plan_hash = {mark}",
            (table, incident_id, plan_hash),
        )
        (existing,) = cursor.fetchone()
        cursor.execute(
            f"INSERT INTO {QUARANTINE_TABLE} (source_table, incident_id, plan_hash, time_start, "
            "time_end, start_epoch, end_epoch, rows_excluded, quarantined_at) VALUES "
            f"({', '.join([mark] * 9)}) ON CONFLICT DO NOTHING",
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
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
        # Plain CREATE when no view stood there at the check: one made since then by
        # someone else makes this fail instead of being replaced.
        cursor.execute(
            _view_sql(
                table, time_column, schema, replace=exists, engine=engine, time_format=time_format
            )
        )
        cursor.execute(f"COMMENT ON VIEW {_quoted_view(table)} IS {literal(view_comment(table))}")
    return "already excluded" if existing else "excluded"


def release_window(engine: str, url: str, *, table: str, incident_id: int, plan_hash: str) -> str:
    """Mark the window released; returns `released` or `not in force`."""
    check_identifier(table)
    mark = _placeholder(engine)
    with connected(engine, url) as cursor:
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
    with connected(engine, url) as cursor:
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


def _owned_view(cursor: Any, engine: str, table: str) -> bool:
    """Whether Warden's clean view of `table` exists (False: nothing has its name);
    `ForeignObject` when something else has it, or when PostgreSQL would cut the name."""
    *schema, name = table_parts(table)
    view = f"{name}_clean"
    if engine == "postgres" and len(view.encode()) > POSTGRES_NAME_BYTES:
        raise ForeignObject(
            f"the clean view {clean_view_name(table)!r} would have a name longer than "
            f"PostgreSQL's {POSTGRES_NAME_BYTES} bytes, which it would cut; quarantine refuses "
            "to create it under another name"
        )
    cursor.execute(_EXISTING[engine], (view, schema[0] if schema else None))
    found = cursor.fetchall()
    if not found:
        return False
    kind, comment = found[0]
    if kind == "v" and comment == view_comment(table):
        return True
    what = "a view" if kind == "v" else "a table or another object that is not a view"
    raise ForeignObject(
        f"{what} named {clean_view_name(table)!r} already exists and Warden did not create "
        f"it (it lacks Warden's comment), so quarantine will not replace it; nothing was "
        f"changed. Drop or rename it to let Warden create the clean view of {table!r}."
    )


def _quoted_view(table: str) -> str:
    *schema, name = table_parts(table)
    return ".".join(quoted(part) for part in (*schema, f"{name}_clean"))


def _view_sql(
    table: str,
    time_column: str,
    schema: str,
    *,
    replace: bool,
    engine: str = "postgres",
    time_format: str | None = None,
) -> str:
    # date_part('epoch', ...) is UTC seconds for a naive (UTC by convention) or a zoned
    # column, in PostgreSQL and DuckDB alike. The quarantine table is named with the schema
    # it was created in, so a view in another schema finds it. A text time column is parsed
    # as the scanner parses it (the dataset's `time_format`).
    column = f"t.{quoted(time_column)}"
    if time_format is not None:
        column = parse_sql(column, time_format, "postgres" if engine == "postgres" else "duckdb")
    windows = f"{quoted(schema)}.{quoted(QUARANTINE_TABLE)}"
    return (
        f"CREATE {'OR REPLACE ' if replace else ''}VIEW {_quoted_view(table)} AS "
        f"SELECT t.* FROM {quoted_table(table)} t "
        f"WHERE NOT EXISTS (SELECT 1 FROM {windows} q "
        f"WHERE q.source_table = {literal(table)} AND q.released_at IS NULL "
        f"AND date_part('epoch', {column}) >= q.start_epoch "
        f"AND date_part('epoch', {column}) < q.end_epoch)"
    )


def _placeholder(engine: str) -> str:
    return "%s" if engine == "postgres" else "?"


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
