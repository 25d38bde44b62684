"""Run a plan's Ibis expression on its table's engine; rows come back as tuples.

Plans bring back aggregates or at most a batch of rows, so a data frame buys them nothing,
and Ibis' `execute` would import pandas to build one: a third of a second, as much as a
plan's queries over a million rows. The expression is compiled by its backend and run on
the engine's own connection by `detectors.sql_runner`, the runner detection uses, so values
arrive as the driver gives them: None for NULL, `Decimal` for PostgreSQL numerics, aware
datetimes for zoned times.

>>> import ibis
>>> engine = ibis.duckdb.connect()
>>> _ = engine.raw_sql("CREATE TABLE t AS SELECT * FROM range(1, 4) AS r(x)")
>>> table = engine.table("t")
>>> fetch(table.filter(table.x > 1).order_by("x"))
[(2,), (3,)]
>>> fetch_value(table.x.sum())
6
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from detectors.sql_runner import run_sql


def fetch(expr: ir.Table) -> list[tuple[Any, ...]]:
    """The rows of `expr` (a table expression bound to one backend), as tuples in the order
    of its columns."""
    backend = expr.get_backend()
    # As Ibis does before it executes: in-memory tables and functions the query uses
    # become known to the engine.
    backend._run_pre_execute_hooks(expr)
    return run_sql(backend, backend.compile(expr))


def fetch_one(expr: ir.Table) -> tuple[Any, ...] | None:
    """The first row of `expr`, or None when it has none."""
    rows = fetch(expr.limit(1))
    return rows[0] if rows else None


def fetch_value(expr: ir.Scalar) -> Any:
    """The value of a scalar expression (an aggregate over a table)."""
    row = fetch_one(expr.as_table())
    assert row is not None, "an aggregate without a group by has exactly one row"
    return row[0]
