"""A source's queries, built and compiled once, rerun with new window bounds as plain SQL.

Building an Ibis expression and compiling it to SQL costs more CPU than a small window's
query takes to run, and converting its result to a pandas frame costs as much again
(`bench/scheduler_load.py` prints the split). A monitor asks the same questions of the same
table every tick; only the window bounds change. So each query a scan needs is named by a
*plan key* that its caller computes without building anything (the columns, their kinds,
the reference's bin edges...), and `QueryPlans.rows(key, build, values)`:

1. the first time it sees a key, calls `build()` for the Ibis expression and compiles it
   once, with a *sentinel* value for each bound parameter (`detectors.profiling`
   `BOUND_PARAMETERS`: instants no data holds, 1901-02-03 04:05:06.071829 and a year later
   per parameter), keeping the SQL and each sentinel's literal as the backend writes it;
2. every time, writes each parameter's value as the backend's own literal (compiled once per
   distinct value and kept: a tick's monitors share their bounds) in place of its sentinel,
   runs the SQL on the backend's own connection and returns the rows as tuples.

When a sentinel's literal is not found in the compiled SQL, the key is remembered as not
plannable and its expression is compiled with the values every time (still run the same
way): the SQL is always exactly what Ibis compiles for those values (tested). A key must
name everything `build` depends on besides the plans' table; which parameters are bound is
part of the key already.

Results come back as Python values from the driver (DuckDB, psycopg, Spark rows), with no
dataframe in between: `None` for SQL NULL, lists for arrays, `datetime` for timestamps.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Plans kept per table (a monitor needs a handful); least recently used ones are dropped.
DEFAULT_CAPACITY = 512
#: Literals kept per process: a tick's monitors share a few window bounds.
LITERAL_CAPACITY = 1024
#: The literal of a one-value `SELECT <literal> AS "<name>"`, as Ibis compiles it.
_LITERAL = re.compile(r"^SELECT\s+(?P<literal>.+?)\s+AS\s+[\"`]", re.DOTALL)
#: (backend name, type, value) -> the literal its compiler writes; shared by every table.
_LITERALS: OrderedDict[tuple[str, Any, Any], str] = OrderedDict()
_LITERALS_LOCK = threading.Lock()


@dataclass(frozen=True)
class QueryResult:
    """A query's rows as tuples, and its column names in order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def first(self) -> dict[str, Any]:
        """The first row by column name (an aggregate's only row); {} when there is none."""
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else {}

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class CompiledQuery:
    """SQL compiled with a sentinel in place of each parameter's value."""

    sql: str
    #: (parameter operation, the sentinel's literal in `sql`)
    sentinels: tuple[tuple[Any, str], ...]
    columns: tuple[str, ...]


class QueryPlans:
    """The compiled queries of one Ibis table, by plan key; thread-safe."""

    def __init__(self, table: Any, capacity: int = DEFAULT_CAPACITY) -> None:
        import ibis

        self.table = table
        self.backend = ibis.get_backend(table)
        self.capacity = capacity
        self._plans: OrderedDict[Hashable, CompiledQuery | None] = OrderedDict()
        self._lock = threading.Lock()
        #: What a caller learnt from earlier runs and may use to pick its next query (a
        #: window's last size), by the caller's own keys; at most `capacity` kept.
        self.hints: _Hints = _Hints(capacity)
        #: Queries run from a kept plan, and plans compiled (the tests and bench read them).
        self.hits = 0
        self.misses = 0

    def rows(
        self, key: Hashable, build: Callable[[], Any], values: Mapping[Any, Any] | None = None
    ) -> QueryResult:
        """Run the query `key` names (built by `build` when not yet planned) with `values`
        for its bound parameters (Ibis scalar parameters -> Python values)."""
        columns, sql = self.sql(key, build, values)
        return QueryResult(columns, self._run(sql))

    def sql(
        self, key: Hashable, build: Callable[[], Any], values: Mapping[Any, Any] | None = None
    ) -> tuple[tuple[str, ...], str]:
        """The column names and SQL of the query `key` names, for `values`."""
        bound = {_operation(parameter): value for parameter, value in (values or {}).items()}
        full_key = (key, frozenset(bound))
        with self._lock:
            known = full_key in self._plans
            plan = self._plans.get(full_key)
            if known:
                self._plans.move_to_end(full_key)
                self.hits += plan is not None
        if known and plan is None:
            return self._compile_with_values(_as_table(build()), bound)
        if not known:
            expr = _as_table(build())
            plan = self._compile(expr, list(bound))
            with self._lock:
                self._plans[full_key] = plan
                while len(self._plans) > self.capacity:
                    self._plans.popitem(last=False)
                self.misses += 1
            if plan is None:
                return self._compile_with_values(expr, bound)
        assert plan is not None
        return plan.columns, self._render(plan, bound)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"plans": len(self._plans), "hits": self.hits, "misses": self.misses}

    def _compile(self, expr: Any, parameters: Sequence[Any]) -> CompiledQuery | None:
        self._register(expr)
        columns = tuple(expr.columns)
        if not parameters:
            return CompiledQuery(self.backend.compile(expr), (), columns)
        sentinels = {parameter: _sentinel(parameter, i) for i, parameter in enumerate(parameters)}
        if any(value is None for value in sentinels.values()):
            return None
        literals = tuple((p, self._literal(p, value)) for p, value in sentinels.items())
        sql = self.backend.compile(expr, params={p.to_expr(): v for p, v in sentinels.items()})
        if any(literal not in sql for _, literal in literals):
            return None
        return CompiledQuery(sql, literals, columns)

    def _render(self, plan: CompiledQuery, bound: Mapping[Any, Any]) -> str:
        if not plan.sentinels:
            return plan.sql
        literals = {
            sentinel: self._literal(parameter, bound[parameter])
            for parameter, sentinel in plan.sentinels
        }
        # One pass, so that a value's literal is never taken for another sentinel.
        pattern = "|".join(re.escape(sentinel) for sentinel in literals)
        return re.sub(pattern, lambda match: literals[match.group(0)], plan.sql)

    def _literal(self, parameter: Any, value: Any) -> str:
        """`value` as the backend writes a literal of `parameter`'s type (kept)."""
        key = (self.backend.name, parameter.dtype, value)
        with _LITERALS_LOCK:
            literal = _LITERALS.get(key)
            if literal is not None:
                _LITERALS.move_to_end(key)
                return literal
        import ibis

        compiled = self.backend.compile(ibis.literal(value, type=parameter.dtype))
        match = _LITERAL.match(compiled)
        if match is None:
            raise ValueError(f"cannot find the literal in {compiled!r}")
        literal = match.group("literal")
        with _LITERALS_LOCK:
            _LITERALS[key] = literal
            while len(_LITERALS) > LITERAL_CAPACITY:
                _LITERALS.popitem(last=False)
        return literal

    def _register(self, expr: Any) -> None:
        """Make what `expr` reads known to the engine, as Ibis does before it executes
        (in-memory tables, user-defined functions). They stay known while `table` lives,
        and the plans hold it."""
        self.backend._run_pre_execute_hooks(expr)

    def _compile_with_values(
        self, expr: Any, bound: Mapping[Any, Any]
    ) -> tuple[tuple[str, ...], str]:
        """`expr` compiled for these values (a query whose sentinels could not be found)."""
        self._register(expr)
        params = {parameter.to_expr(): value for parameter, value in bound.items()}
        return tuple(expr.columns), self.backend.compile(expr, params=params or None)

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        """`sql` run on the backend's own connection, rows as tuples of Python values."""
        name = self.backend.name
        if name == "duckdb":
            return self.backend.con.execute(sql).fetchall()
        if name == "postgres":
            connection = self.backend.con
            with connection.cursor() as cursor, connection.transaction():
                cursor.execute(sql)
                return cursor.fetchall()
        if name == "pyspark":
            return [tuple(row) for row in self.backend.raw_sql(sql).collect()]
        raise NotImplementedError(
            f"running planned queries on the {name!r} Ibis backend is not supported"
        )


class _Hints(OrderedDict[Hashable, Any]):
    """A dict that forgets its least recently written entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: Hashable, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


def _as_table(expr: Any) -> Any:
    return expr if hasattr(expr, "columns") else expr.as_table()


def _operation(parameter: Any) -> Any:
    return parameter.op() if hasattr(parameter, "op") else parameter


def _sentinel(parameter: Any, index: int) -> Any:
    """A value of `parameter`'s type that no data holds; None when the type has none."""
    dtype = parameter.dtype
    if not dtype.is_timestamp():
        return None
    moment = datetime(1901 + index, 2, 3, 4, 5, 6, 71829)
    return moment.replace(tzinfo=UTC) if dtype.timezone is not None else moment
