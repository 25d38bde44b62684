"""The Ibis expressions a window profile runs: window filters and its four queries.

Each builder returns an expression over a window; `detectors.profiling` names each by a plan
key and runs it through `detectors.query_plans`, so these are built once per monitor and
table, not every scan. The window bounds are Ibis scalar parameters (`BOUND_PARAMETERS`),
the same objects every scan, bound to their values when a query runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.types import Table

from detectors.profile import OTHER_CATEGORY, QUANTILE_LEVELS, ColumnKind
from detectors.window_bounds import as_bound, bound_names
from detectors.window_bounds import bound_values as named_bound_values

__all__ = ["BOUND_PARAMETERS", "NAMED_PARAMETERS", "OTHER_CATEGORY"]

#: The window bounds as Ibis scalar parameters (low, high), for columns without a time zone
#: (True) and with one (False). The same objects every scan, so a monitor's queries are the
#: same expression every tick and their compiled SQL can be reused
#: (`detectors.query_plans`); the values are bound when a query runs.
BOUND_PARAMETERS: dict[bool, tuple[Any, Any]] = {
    naive: (ibis.param(dtype), ibis.param(dtype))
    for naive, dtype in ((True, dt.Timestamp()), (False, dt.Timestamp(timezone="UTC")))
}
#: The bound parameters by a name that every process gives them alike
#: (`detectors.window_bounds`): how an archived plan (`detectors.plan_records`) says which
#: sentinel stands for which bound, and how a scan binds them without building them.
NAMED_PARAMETERS: dict[str, Any] = {
    name: parameter
    for naive, pair in BOUND_PARAMETERS.items()
    for name, parameter in zip(bound_names(naive), pair, strict=True)
}
_NAMES_BY_OPERATION = {parameter.op(): name for name, parameter in NAMED_PARAMETERS.items()}


def parameter_name(parameter: Any) -> str | None:
    """The stable name of one of `BOUND_PARAMETERS` (as an expression or its operation);
    None for any other parameter."""
    operation = parameter.op() if hasattr(parameter, "op") else parameter
    return _NAMES_BY_OPERATION.get(operation)


def is_naive(dtype: dt.DataType) -> bool:
    """A time column without a time zone (it holds UTC, Warden's convention)."""
    return dtype.is_timestamp() and dtype.timezone is None


def window_filter(
    table: Table, time_column: str, start: datetime | None, end: datetime | None
) -> Table:
    """Rows with start <= time < end (either bound may be open).

    The bounds are given in the column's own type: a column without a time zone holds UTC
    (Warden's convention), so it is compared with naive UTC bounds. With time-zone-aware
    bounds DuckDB casts every row first, which hides the predicate from Parquet row-group
    statistics: it then reads every row group of a file, not just the window's.
    """
    column = table[time_column]
    naive = is_naive(column.type())
    predicates = []
    if start is not None:
        predicates.append(column >= as_bound(start, naive))
    if end is not None:
        predicates.append(column < as_bound(end, naive))
    return table.filter(*predicates) if predicates else table


def bound_values(
    time_type: dt.DataType, start: datetime | None, end: datetime | None
) -> dict[Any, datetime]:
    """The values of `BOUND_PARAMETERS` for the window [start, end) of a time column of
    type `time_type` (an open bound has none); `detectors.window_bounds.bound_values`
    gives them by name, as plans take them without Ibis."""
    named = named_bound_values(is_naive(time_type), start, end)
    return {NAMED_PARAMETERS[name]: value for name, value in named.items()}


def parametrised_window(
    table: Table, time_column: str, start: datetime | None, end: datetime | None
) -> tuple[Table, dict[Any, datetime]]:
    """`window_filter` with the bounds as `BOUND_PARAMETERS`: the rows of [start, end), and
    the parameter values to run its queries with."""
    column = table[time_column]
    low, high = BOUND_PARAMETERS[is_naive(column.type())]
    values = bound_values(column.type(), start, end)
    predicates = []
    if low in values:
        predicates.append(column >= low)
    if high in values:
        predicates.append(column < high)
    return (table.filter(*predicates) if predicates else table), values


def count_true(condition: Any) -> Any:
    """Rows where `condition` holds (NULL counts as not), as a plain sum of 0/1.

    Engines vectorise a sum of casts far better than many FILTER clauses: 280 histogram
    counts over 1M rows take 0.8 s this way in DuckDB against 7.2 s as `count(*) FILTER`.
    """
    # int32, not int64: PostgreSQL casts boolean to integer but not to bigint.
    return condition.cast("int32").sum().coalesce(0)


def aggregate_query(
    window: Table,
    columns: Sequence[str],
    kinds: Mapping[str, ColumnKind],
    edges: Mapping[str, tuple[float, ...]],
    ranges: Mapping[str, tuple[float, float]],
    *,
    exact_quantiles: bool,
    with_distinct: bool,
) -> Table:
    """One row: the window's row count and, per column, what its kind gets (counts, moments,
    quantiles, cumulative counts at `edges`, rows outside the reference's `ranges`;
    `with_distinct` adds approximate distinct counts of numeric columns)."""
    metrics: dict[str, Any] = {"__rows": window.count()}
    for name in columns:
        column = window[name]
        metrics[f"{name}__count"] = column.count()
        kind = kinds[name]
        if kind == "numeric":
            value = column.cast("float64")
            metrics[f"{name}__min"] = value.min()
            metrics[f"{name}__max"] = value.max()
            metrics[f"{name}__mean"] = value.mean()
            if with_distinct:
                # HyperLogLog: exact at the handful of values that matter here, and cheap.
                metrics[f"{name}__distinct"] = value.approx_nunique()
            metrics[f"{name}__std"] = value.std()
            levels = list(QUANTILE_LEVELS)
            metrics[f"{name}__q"] = (
                value.quantile(levels) if exact_quantiles else value.approx_quantile(levels)
            )
            for index, edge in enumerate(edges.get(name, ())):
                metrics[f"{name}__le{index}"] = count_true(value <= edge)
            if name in ranges:
                minimum, maximum = ranges[name]
                metrics[f"{name}__below"] = count_true(value < minimum)
                metrics[f"{name}__above"] = count_true(value > maximum)
        elif kind == "categorical":
            metrics[f"{name}__distinct"] = column.nunique()
        elif kind == "datetime":
            metrics[f"{name}__min"] = column.min()
            metrics[f"{name}__max"] = column.max()
    return window.aggregate(**metrics)


def histogram_query(window: Table, edges: Mapping[str, tuple[float, ...]]) -> Table:
    """One row: per column, the rows at or below each edge (cumulative bin counts)."""
    metrics = {}
    for name, cuts in edges.items():
        value = window[name].cast("float64")
        for index, edge in enumerate(cuts):
            metrics[f"{name}__le{index}"] = count_true(value <= edge)
    return window.aggregate(**metrics)


def category_query(window: Table, categorical: Sequence[str], top_k: int) -> Table:
    """Rows (column_name, value, n): the top-K value counts of every categorical column,
    the rest summed as `OTHER_CATEGORY`, in one query (a union of group-bys)."""
    parts = [
        window.filter(window[name].notnull())
        .group_by(value=window[name].cast("string"))
        .aggregate(n=ibis._.count())
        .mutate(column_name=ibis.literal(name))
        for name in categorical
    ]
    counts = parts[0] if len(parts) == 1 else ibis.union(*parts)
    ranked = counts.mutate(
        rank=ibis.row_number().over(group_by="column_name", order_by=[ibis.desc("n"), "value"])
    )
    bucketed = ranked.mutate(
        value=ibis.ifelse(ranked["rank"] < top_k, ranked["value"], ibis.literal(OTHER_CATEGORY))
    )
    return (
        bucketed.group_by(["column_name", "value"])
        .aggregate(n=bucketed["n"].sum())
        .select("column_name", "value", "n")
    )


def raw_value_query(window: Table, numeric: Sequence[str]) -> Table:
    """The window's values of `numeric` columns as float64, one row per row."""
    return window.select(*[window[name].cast("float64").name(name) for name in numeric])
