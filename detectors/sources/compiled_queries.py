"""Queries compiled once per engine instance, rerun with new window bounds.

Compiling an Ibis expression to SQL costs more CPU than a small window's query takes to run
(about half of a daemon's CPU per scan, `bench/scheduler_load.py`). A daemon keeps each file
dataset open between scans (`daemon.scan.open_sources`), so a monitor's queries are the same
expression every tick on the same Ibis table; only the window bounds change, and the scan
passes those as Ibis scalar parameters (`ibis.param`, see `detectors.profiling`).

`CompiledQueries` stands in for the backend's `compile`: the first time it sees an
expression with parameters it compiles it once with a *sentinel* value for each parameter
(instants no data holds: 1901-02-03 04:05:06.071829 and one year later per parameter) and
keeps the SQL. Each later call with the same expression and parameters (whatever their
values) substitutes each sentinel's literal with the value's literal, both as the backend's
own compiler writes them (a one-literal compile, under a millisecond). When a sentinel's
literal is not found in the compiled SQL (a union repeats it, which is fine), the
expression is not cached and is
compiled the ordinary way every time: the result is always what Ibis would have compiled.
Calls without parameters are passed through untouched.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

#: Most expressions kept per engine instance (a monitor needs a handful); least recently
#: used ones are dropped beyond it.
DEFAULT_CAPACITY = 512
#: The literal of a one-value `SELECT <literal> AS "<name>"`, as compiled.
_LITERAL = re.compile(r"^SELECT (?P<literal>.+?) AS \"", re.DOTALL)


class CompiledQueries:
    """A caching stand-in for one backend's `compile` (install with `cache_compiled_queries`)."""

    def __init__(self, compile_: Callable[..., str], capacity: int = DEFAULT_CAPACITY) -> None:
        self._compile = compile_
        self.capacity = capacity
        #: expression key -> (SQL with sentinels, [(parameter, sentinel literal)]), or None
        #: for an expression whose sentinels could not be located (never cached).
        self._templates: OrderedDict[Any, tuple[str, list[tuple[Any, str]]] | None] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __call__(
        self,
        expr: Any,
        /,
        *,
        limit: int | None = None,
        params: Mapping[Any, Any] | None = None,
        pretty: bool = False,
    ) -> str:
        if not params or pretty:
            return self._compile(expr, limit=limit, params=params, pretty=pretty)
        bound = {_op(parameter): value for parameter, value in params.items()}
        key = (expr.op(), limit, frozenset(bound))
        with self._lock:
            known = key in self._templates
            template = self._templates.get(key)
            if known:
                self._templates.move_to_end(key)
        if known and template is None:
            return self._compile(expr, limit=limit, params=params)
        if template is None:
            template = self._template(expr, limit, list(bound))
            with self._lock:
                self._templates[key] = template
                while len(self._templates) > self.capacity:
                    self._templates.popitem(last=False)
                self.misses += 1
            if template is None:
                return self._compile(expr, limit=limit, params=params)
        else:
            with self._lock:
                self.hits += 1
        sql, sentinels = template
        # One pass, so that a value's literal is never taken for another sentinel.
        literals = {
            sentinel: self._literal(parameter, bound[parameter])
            for parameter, sentinel in sentinels
        }
        pattern = "|".join(re.escape(sentinel) for sentinel in literals)
        return re.sub(pattern, lambda match: literals[match.group(0)], sql)

    def _template(
        self, expr: Any, limit: int | None, parameters: list[Any]
    ) -> tuple[str, list[tuple[Any, str]]] | None:
        values = {parameter: _sentinel(parameter, i) for i, parameter in enumerate(parameters)}
        if any(value is None for value in values.values()):
            return None
        sentinels = [
            (parameter, self._literal(parameter, values[parameter])) for parameter in parameters
        ]
        sql = self._compile(expr, limit=limit, params={p.to_expr(): v for p, v in values.items()})
        if any(literal not in sql for _, literal in sentinels):
            return None
        return sql, sentinels

    def _literal(self, parameter: Any, value: Any) -> str:
        """`value` as the backend writes a literal of `parameter`'s type."""
        import ibis

        compiled = self._compile(ibis.literal(value, type=parameter.dtype))
        match = _LITERAL.match(compiled)
        if match is None:
            raise ValueError(f"cannot find the literal in {compiled!r}")
        return match.group("literal")


def cache_compiled_queries(backend: Any, capacity: int = DEFAULT_CAPACITY) -> CompiledQueries:
    """Make `backend` (an Ibis SQL backend) compile each parametrised expression once."""
    cache = CompiledQueries(backend.compile, capacity)
    backend.compile = cache
    return cache


def _op(parameter: Any) -> Any:
    return parameter.op() if hasattr(parameter, "op") else parameter


def _sentinel(parameter: Any, index: int) -> Any:
    """A value of `parameter`'s type that no data holds; None when the type has none."""
    dtype = parameter.dtype
    if not dtype.is_timestamp():
        return None
    moment = datetime(1901 + index, 2, 3, 4, 5, 6, 71829)
    return moment.replace(tzinfo=UTC) if dtype.timezone is not None else moment
