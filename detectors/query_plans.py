"""A table's queries, built and compiled once, rerun with new window bounds as plain SQL.

Building an Ibis expression and compiling it to SQL costs more CPU than a small window's
query takes to run, and converting its result to a pandas frame costs as much again
(`bench/scheduler_load.py` prints the split). A monitor asks the same questions of the same
table every tick; only the window bounds change. So each query a scan needs is named by a
*plan key* that its caller computes without building anything (the columns, their kinds,
the reference's bin edges...), and `QueryPlans.rows(key, build, values)`:

1. the first time it sees a key, calls `build()` for the Ibis expression and compiles it
   once, with a *sentinel* value for each bound parameter (`detectors.profile_queries`
   `BOUND_PARAMETERS`: instants no data holds, 1901-02-03 04:05:06.071829 and a year later
   per parameter), keeping the SQL and each sentinel's literal as the backend writes it;
2. every time, writes each parameter's value as the backend's own literal (compiled once per
   distinct value and kept: a tick's monitors share their bounds) in place of its sentinel,
   runs the SQL on the backend's own connection (`detectors.sql_runner`) and returns the
   rows as tuples.

Plans are kept per process (`SHARED_PLANS`) under the table's identity (engine, the
table's own SQL, its schema), so every source of one dataset shares them: a daemon's kept
DuckDB instances, a private one opened while the kept one is busy, a SQL table opened
afresh for each scan.

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

from detectors.sql_runner import run_sql

#: Plans kept per process: a monitor needs about eight (its profiles, the reference's
#: signature, a freshness timeline), monitors of one dataset and reference share them, so
#: this holds a thousand distinct monitors' plans; least recently used ones are dropped.
#: Most are a few hundred bytes of SQL, a wide table's aggregate some tens of kB.
DEFAULT_CAPACITY = 8192
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


class _Bounded(OrderedDict[Hashable, Any]):
    """A dict that forgets its least recently written entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: Hashable, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class PlanStore:
    """Compiled queries and hints by (table identity, key), least recently used dropped
    beyond `capacity` each; thread-safe. One per process (`SHARED_PLANS`) by default."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._plans: _Bounded = _Bounded(capacity)
        self._hints: _Bounded = _Bounded(capacity)
        self._lock = threading.Lock()

    def plan(self, key: Hashable) -> tuple[bool, CompiledQuery | None]:
        """(whether `key` was planned, its plan: None when it cannot be)."""
        with self._lock:
            if key not in self._plans:
                return False, None
            self._plans.move_to_end(key)
            return True, self._plans[key]

    def keep(self, key: Hashable, plan: CompiledQuery | None) -> None:
        with self._lock:
            self._plans[key] = plan

    def hint(self, key: Hashable) -> Any:
        with self._lock:
            return self._hints.get(key)

    def set_hint(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._hints[key] = value

    def planned(self) -> list[Hashable]:
        """The planned keys, least recently used first (the tests read them)."""
        with self._lock:
            return list(self._plans)


#: The process's plans: every source whose table compiles to the same SQL with the same
#: schema on the same kind of engine shares them (the sources a daemon opens on several
#: DuckDB instances of one dataset, or afresh for each scan of a SQL table).
SHARED_PLANS = PlanStore()


class QueryPlans:
    """The compiled queries of one Ibis table, by plan key; thread-safe.

    Plans are kept in a `PlanStore` under the table's identity: the engine's name, the SQL
    of the table itself and its schema. Two tables with the same identity are the same to
    any query built on them (a query's SQL names the table as the table's own SQL does),
    so their plans are shared. `hits` and `misses` count this object's queries run from a
    kept plan and plans it compiled.
    """

    def __init__(self, table: Any, store: PlanStore | None = None) -> None:
        import ibis

        self.table = table
        self.backend = ibis.get_backend(table)
        self.store = store if store is not None else SHARED_PLANS
        schema = tuple((name, str(dtype)) for name, dtype in table.schema().items())
        self.identity = (self.backend.name, self.backend.compile(table), schema)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def rows(
        self, key: Hashable, build: Callable[[], Any], values: Mapping[Any, Any] | None = None
    ) -> QueryResult:
        """Run the query `key` names (built by `build` when not yet planned) with `values`
        for its bound parameters (Ibis scalar parameters -> Python values)."""
        columns, sql = self.sql(key, build, values)
        return QueryResult(columns, run_sql(self.backend, sql))

    def sql(
        self, key: Hashable, build: Callable[[], Any], values: Mapping[Any, Any] | None = None
    ) -> tuple[tuple[str, ...], str]:
        """The column names and SQL of the query `key` names, for `values`."""
        bound = {_operation(parameter): value for parameter, value in (values or {}).items()}
        full_key = (self.identity, key, frozenset(bound))
        known, plan = self.store.plan(full_key)
        if known and plan is None:
            return self._compile_with_values(_as_table(build()), bound)
        if not known:
            expr = _as_table(build())
            plan = self._compile(expr, list(bound))
            self.store.keep(full_key, plan)
            with self._lock:
                self.misses += 1
            if plan is None:
                return self._compile_with_values(expr, bound)
        else:
            with self._lock:
                self.hits += 1
        assert plan is not None
        return plan.columns, self._render(plan, bound)

    def hint(self, key: Hashable) -> Any:
        """What a caller noted with `set_hint` on a table of this identity, or None: what it
        learnt from earlier runs to pick its next query by (a window's last size)."""
        return self.store.hint((self.identity, key))

    def set_hint(self, key: Hashable, value: Any) -> None:
        self.store.set_hint((self.identity, key), value)

    def planned(self) -> list[Hashable]:
        """The plan keys kept for this table's identity (without their parameters)."""
        keys = [key for key in self.store.planned() if isinstance(key, tuple)]
        return [key[1] for key in keys if key[0] == self.identity]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses}

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
