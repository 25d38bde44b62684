"""Run compiled SQL on an engine's own connection; rows come back as tuples.

The one place a planned query (`detectors.query_plans`) reaches the engine, marked as
`execute` for the CPU profile (`detectors.work_labels`).
"""

from __future__ import annotations

from typing import Any

from detectors.work_labels import doing


def run_sql(backend: Any, sql: str) -> list[tuple[Any, ...]]:
    """`sql` run on `backend`'s connection (DuckDB, PostgreSQL or Spark), rows as tuples of
    the driver's Python values: None for NULL, lists for arrays, datetimes for timestamps
    (aware in UTC where the column has a time zone)."""
    with doing("execute"):
        return _run(backend, sql)


def run_on_duckdb(connection: Any, sql: str) -> list[tuple[Any, ...]]:
    """`sql` run on a DuckDB connection itself (no Ibis backend around it)."""
    with doing("execute"):
        return connection.execute(sql).fetchall()


def _run(backend: Any, sql: str) -> list[tuple[Any, ...]]:
    name = backend.name
    if name == "duckdb":
        return backend.con.execute(sql).fetchall()
    if name == "postgres":
        connection = backend.con
        with connection.cursor() as cursor, connection.transaction():
            cursor.execute(sql)
            return cursor.fetchall()
    if name == "pyspark":
        # Through Arrow, not `collect()`: Spark's Row values turn timestamps into naive
        # datetimes in this process's local time zone, while Arrow keeps the session's
        # (UTC) instant.
        table = backend.raw_sql(sql).toArrow()
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
    raise NotImplementedError(
        f"running planned queries on the {name!r} Ibis backend is not supported"
    )
