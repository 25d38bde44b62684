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

Plans also outlive the process when the table's plans are given a `PlanArchive` (the
store's: `daemon.scan.plan_archive`): a plan not in memory is looked up there by a plan id
(`detectors.plan_records`) before anything is built, and each plan compiled is handed to
it. A `warden scan` from cron then builds and compiles nothing an earlier run compiled,
and writes bounds with learnt literal templates (`detectors.literal_templates`), not the
compiler. Plans whose expression reads an in-memory table or a Python function (which a
new process would have to register first) stay in memory only.

A table the scan knows from a record an earlier process kept
(`detectors.plan_records.RecordedTable`: its engine, identity and raw connection) needs no
Ibis at all while every query it asks for is archived: the Ibis table is built only when a
plan must be compiled. Bound parameters are therefore named (`detectors.window_bounds`):
a caller passes values by name, or as Ibis parameters.

Results come back as Python values from the driver (DuckDB, psycopg, Spark rows), with no
dataframe in between: `None` for SQL NULL, lists for arrays, `datetime` for timestamps.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from detectors.bound_keys import (
    BoundKey,
    bound_key,
    dtype_of,
    parameter_of,
    sentinel,
    timestamp_awareness,
    type_text,
)
from detectors.literal_templates import LiteralTemplate, learn_template
from detectors.plan_records import (
    NotStable,
    PlanArchive,
    PlanRecord,
    RecordedTable,
    code_version,
    digest,
    stable_text,
)
from detectors.plan_store import SHARED_PLANS, CompiledQuery, PlanStore, QueryResult
from detectors.sql_runner import run_on_duckdb, run_sql
from detectors.window_bounds import BOUND_TYPES
from detectors.work_labels import doing

__all__ = ["SHARED_PLANS", "CompiledQuery", "PlanStore", "QueryPlans", "QueryResult"]

log = logging.getLogger(__name__)

#: Literals kept per process: a tick's monitors share a few window bounds.
LITERAL_CAPACITY = 1024
#: The literal of a one-value `SELECT <literal> AS "<name>"`, as Ibis compiles it.
_LITERAL = re.compile(r"^SELECT\s+(?P<literal>.+?)\s+AS\s+[\"`]", re.DOTALL)
#: (engine name, type as text, value) -> the literal its compiler writes; shared by every table.
_LITERALS: OrderedDict[tuple[str, str, Any], str] = OrderedDict()
_LITERALS_LOCK = threading.Lock()
#: (engine name, type as text) -> its learnt literal template, or None when none fits.
_TEMPLATES: dict[tuple[str, str], LiteralTemplate | None] = {}
#: The archive group literal templates are kept under (beside the tables' identities).
TEMPLATE_GROUP = "literal-templates"


class QueryPlans:
    """The compiled queries of one table, by plan key; thread-safe.

    The table is an Ibis table, or a `RecordedTable` whose Ibis table is built only when a
    query must be compiled. Plans are kept in a `PlanStore` under the table's identity id:
    a hash of the engine's name, the SQL of the table itself and its schema. Two tables
    with the same identity are the same to any query built on them (a query's SQL names
    the table as the table's own SQL does), so their plans are shared. `hits` and `misses`
    count this object's queries run from a kept plan and plans it compiled.
    """

    def __init__(
        self,
        table: Any = None,
        store: PlanStore | None = None,
        archive: PlanArchive | None = None,
        *,
        recorded: RecordedTable | None = None,
    ) -> None:
        if (table is None) == (recorded is None):
            raise ValueError("give either an Ibis table or a recorded table")
        self.store = store if store is not None else SHARED_PLANS
        self.archive = archive
        self._recorded = recorded
        self._table = table
        self._backend: Any = None
        if recorded is not None:
            self.engine = recorded.engine
            self.identity_id = recorded.identity_id
        else:
            self.engine, self.identity_id = table_identity(table)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        #: plans this object took from the archive instead of compiling them
        self.loaded = 0

    @property
    def table(self) -> Any:
        """The Ibis table (a recorded table's is built now, the first time it is asked)."""
        with self._lock:
            if self._table is None:
                assert self._recorded is not None
                with doing("compile"):
                    self._table = self._recorded.open_table()
                _engine, identity_id = table_identity(self._table)
                if identity_id != self.identity_id:
                    # Its plans stay filed under the recorded identity: they run on the
                    # same view either way; a process that opens the table anew files
                    # them under its own.
                    log.warning("a recorded table's identity changed when it was built")
            return self._table

    @property
    def backend(self) -> Any:
        """The table's Ibis backend (builds a recorded table's)."""
        if self._backend is None:
            import ibis

            self._backend = ibis.get_backend(self.table)
        return self._backend

    def rows(
        self, key: Hashable, build: Callable[[], Any], values: Mapping[Any, Any] | None = None
    ) -> QueryResult:
        """Run the query `key` names (built by `build` when not yet planned) with `values`
        for its bound parameters (parameter names or Ibis scalar parameters -> values)."""
        columns, sql = self.sql(key, build, values)
        return QueryResult(columns, self._run(sql))

    def sql(
        self, key: Hashable, build: Callable[[], Any], values: Mapping[Any, Any] | None = None
    ) -> tuple[tuple[str, ...], str]:
        """The column names and SQL of the query `key` names, for `values`."""
        bound = {bound_key(parameter): value for parameter, value in (values or {}).items()}
        full_key = (self.identity_id, key, frozenset(bound))
        known, plan = self.store.plan(full_key)
        if known and plan is None:
            with doing("compile"):
                return self._compile_with_values(_as_table(build()), bound)
        if not known:
            plan_id = self._plan_id(key, bound)
            plan = self._load(plan_id)
            if plan is not None:
                self.store.keep(full_key, plan)
                with self._lock:
                    self.loaded += 1
                return plan.columns, self._render(plan, bound)
            with doing("compile"):
                expr = _as_table(build())
                plan = self._compile(expr, list(bound))
            self.store.keep(full_key, plan)
            with self._lock:
                self.misses += 1
            if plan is None:
                with doing("compile"):
                    return self._compile_with_values(expr, bound)
            if plan_id is not None and _archivable(expr):
                self._save(plan_id, plan)
        else:
            with self._lock:
                self.hits += 1
        assert plan is not None
        return plan.columns, self._render(plan, bound)

    def hint(self, key: Hashable) -> Any:
        """What a caller noted with `set_hint` on a table of this identity, or None: what it
        learnt from earlier runs to pick its next query by (a window's last size)."""
        return self.store.hint((self.identity_id, key))

    def set_hint(self, key: Hashable, value: Any) -> None:
        self.store.set_hint((self.identity_id, key), value)

    def planned(self) -> list[Hashable]:
        """The plan keys kept for this table's identity (without their parameters)."""
        keys = [key for key in self.store.planned() if isinstance(key, tuple)]
        return [key[1] for key in keys if key[0] == self.identity_id]

    def stats(self) -> dict[str, int]:
        """Queries run from kept plans ("hits", those taken from the archive included),
        plans compiled ("misses") and plans taken from the archive ("loaded")."""
        with self._lock:
            return {"hits": self.hits + self.loaded, "misses": self.misses, "loaded": self.loaded}

    def built(self) -> bool:
        """Whether the Ibis table exists (always, unless a recorded table's was never
        needed: every query it ran was archived)."""
        return self._table is not None

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        if self._recorded is not None:
            return run_on_duckdb(self._recorded.connection, sql)
        return run_sql(self.backend, sql)

    def _plan_id(self, key: Hashable, bound: Mapping[BoundKey, Any]) -> str | None:
        """The archive's id of the plan `key` names with these parameters bound; None when
        there is no archive, or the key or a parameter has no stable name."""
        if self.archive is None or not all(isinstance(name, str) for name in bound):
            return None
        try:
            key_text = stable_text(key)
        except NotStable:
            return None
        return digest(self.identity_id, key_text, ",".join(sorted(bound)), code_version())

    def _load(self, plan_id: str | None) -> CompiledQuery | None:
        """The archived plan `plan_id`, or None (the table's records are read once per
        process and store, `PlanStore.archived`)."""
        archive = self.archive
        if plan_id is None or archive is None:
            return None
        record = self.store.archived(self.identity_id, plan_id, archive.load)
        return _from_record(record) if record is not None else None

    def _save(self, plan_id: str, plan: CompiledQuery) -> None:
        assert self.archive is not None
        sentinels = [[name, literal] for name, literal in plan.sentinels]
        record = {"sql": plan.sql, "sentinels": sentinels, "columns": list(plan.columns)}
        self.archive.save(self.identity_id, plan_id, record)

    def _compile(self, expr: Any, parameters: Sequence[BoundKey]) -> CompiledQuery | None:
        backend = self.backend
        self._register(expr)
        columns = tuple(expr.columns)
        if not parameters:
            return CompiledQuery(backend.compile(expr), (), columns)
        sentinels = {key: sentinel(key, i) for i, key in enumerate(parameters)}
        if any(value is None for value in sentinels.values()):
            return None
        literals = tuple((key, self._literal(key, value)) for key, value in sentinels.items())
        params = {parameter_of(key): value for key, value in sentinels.items()}
        sql = backend.compile(expr, params=params)
        if any(literal not in sql for _, literal in literals):
            return None
        return CompiledQuery(sql, literals, columns)

    def _render(self, plan: CompiledQuery, bound: Mapping[BoundKey, Any]) -> str:
        if not plan.sentinels:
            return plan.sql
        literals = {sentinel: self._literal(key, bound[key]) for key, sentinel in plan.sentinels}
        # One pass, so that a value's literal is never taken for another sentinel.
        pattern = "|".join(re.escape(sentinel) for sentinel in literals)
        return re.sub(pattern, lambda match: literals[match.group(0)], plan.sql)

    def _literal(self, key: BoundKey, value: Any) -> str:
        """`value` as the engine writes a literal of the parameter `key`'s type (kept)."""
        cache_key = (self.engine, type_text(key), value)
        with _LITERALS_LOCK:
            literal = _LITERALS.get(cache_key)
            if literal is not None:
                _LITERALS.move_to_end(cache_key)
                return literal
        template = self._template(key)
        written = template.render(value) if template is not None else None
        literal = written if written is not None else self._compile_literal(key, value)
        with _LITERALS_LOCK:
            _LITERALS[cache_key] = literal
            while len(_LITERALS) > LITERAL_CAPACITY:
                _LITERALS.popitem(last=False)
        return literal

    def _compile_literal(self, key: BoundKey, value: Any) -> str:
        """The literal Ibis's compiler writes for `value` of the parameter `key`'s type."""
        import ibis

        backend = self.backend
        with doing("compile"):
            compiled = backend.compile(ibis.literal(value, type=dtype_of(key)))
        match = _LITERAL.match(compiled)
        if match is None:
            raise ValueError(f"cannot find the literal in {compiled!r}")
        return match.group("literal")

    def _template(self, key: BoundKey) -> LiteralTemplate | None:
        """The engine's learnt literal template for the timestamps of parameter `key`'s
        type (from the process, the archive, or learnt now from the compiler); None for
        other types."""
        aware = timestamp_awareness(key)
        if aware is None:
            return None
        type_key = (self.engine, type_text(key))
        if type_key in _TEMPLATES:
            return _TEMPLATES[type_key]
        template_id = digest(*type_key, code_version())
        archived = self.archive.load(TEMPLATE_GROUP) if self.archive is not None else {}
        template = LiteralTemplate.from_record(archived.get(template_id))
        if template is None:
            template = learn_template(lambda v: self._compile_literal(key, v), aware=aware)
            if template is not None and self.archive is not None:
                self.archive.save(TEMPLATE_GROUP, template_id, template.to_record())
        _TEMPLATES[type_key] = template
        return template

    def _register(self, expr: Any) -> None:
        """Make what `expr` reads known to the engine, as Ibis does before it executes
        (in-memory tables, user-defined functions). They stay known while `table` lives,
        and the plans hold it."""
        self.backend._run_pre_execute_hooks(expr)

    def _compile_with_values(
        self, expr: Any, bound: Mapping[BoundKey, Any]
    ) -> tuple[tuple[str, ...], str]:
        """`expr` compiled for these values (a query whose sentinels could not be found)."""
        self._register(expr)
        params = {parameter_of(key): value for key, value in bound.items()}
        return tuple(expr.columns), self.backend.compile(expr, params=params or None)


def table_identity(table: Any) -> tuple[str, str]:
    """(engine name, identity id) of an Ibis table: the id hashes the engine's name, the
    table's own SQL and its schema."""
    import ibis

    backend = ibis.get_backend(table)
    schema = tuple((name, str(dtype)) for name, dtype in table.schema().items())
    return backend.name, digest(stable_text((backend.name, backend.compile(table), schema)))


def _archivable(expr: Any) -> bool:
    """Whether `expr`'s SQL runs in another process as it is: it reads no in-memory table
    and calls no Python function, which a process must register with its engine first."""
    import ibis.expr.operations as ops
    from ibis.expr.operations.udf import InputType

    node = expr.op()
    if node.find(ops.InMemoryTable):
        return False
    functions = node.find((ops.ScalarUDF, ops.AggUDF))
    return all(
        getattr(function, "__input_type__", None) == InputType.BUILTIN for function in functions
    )


def _from_record(record: PlanRecord) -> CompiledQuery | None:
    """The plan an archive record holds; None for a damaged one (then compiled again)."""
    try:
        sentinels = tuple((str(name), literal) for name, literal in record["sentinels"])
        sql, columns = record["sql"], tuple(record["columns"])
    except (KeyError, TypeError, ValueError):
        return None
    if any(name not in BOUND_TYPES for name, _ in sentinels):
        return None
    texts = [sql, *columns, *(literal for _, literal in sentinels)]
    if not all(isinstance(text, str) for text in texts):
        return None
    if any(literal not in sql for _, literal in sentinels):
        return None
    return CompiledQuery(sql, sentinels, columns)


def _as_table(expr: Any) -> Any:
    return expr if hasattr(expr, "columns") else expr.as_table()
