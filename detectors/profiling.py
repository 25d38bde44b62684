"""Compute window profiles inside the engine with Ibis (DuckDB, PostgreSQL, Spark...).

One aggregate query covers every column of a window (counts, nulls, moments, quantiles,
histogram counts on reference-derived bins, rows outside the reference range); one more
query gathers top-K category counts for all categorical columns at once. Only windows of at
most `raw_value_limit` rows bring raw values into Python, for exact small-sample tests.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.types import Table

from detectors.profile import QUANTILE_LEVELS, ColumnKind, ColumnProfile, Histogram, WindowProfile

OTHER_CATEGORY = "__other__"
#: Numeric columns with at most this many distinct values in the reference (flags, 0/1
#: labels, 1-5 ratings) are profiled and compared as categorical, as Evidently does.
LOW_CARDINALITY = 5


@dataclass(frozen=True)
class ProfileOptions:
    """How much detail a profile keeps.

    - `top_k`: categories kept per column (the rest are summed into `other_count`).
    - `histogram_bins`: equal-frequency bins cut at reference quantiles (20 -> 5% each).
    - `raw_value_limit`: windows of at most this many rows also ship raw values, so exact
      tests (KS, chi-square) can run; 1,000 follows Evidently's small-sample boundary.
    - `exact_quantile_rows`: windows up to this size get exact quantiles; larger ones get the
      engine's t-digest sketch (DuckDB `approx_quantile`), twice as fast at 1M rows. Its rank
      error is well under 1% at 101 levels, so a Wasserstein distance integrated over them
      moves by less than 0.01 reference standard deviations (tested).
    """

    top_k: int = 100
    histogram_bins: int = 20
    raw_value_limit: int = 1000
    exact_quantile_rows: int = 100_000


def column_kind(dtype: dt.DataType) -> ColumnKind:
    """Map an engine type to the kind of statistics it gets."""
    if dtype.is_boolean() or dtype.is_string():
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "datetime"
    return "other"


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
    naive = column.type().is_timestamp() and column.type().timezone is None
    predicates = []
    if start is not None:
        predicates.append(column >= _bound(start, naive))
    if end is not None:
        predicates.append(column < _bound(end, naive))
    return table.filter(*predicates) if predicates else table


#: The window bounds as Ibis scalar parameters, for columns without a time zone (True) and
#: with one (False). The same objects every scan, so a monitor's queries are the same
#: expression every tick and an engine can reuse their compiled SQL
#: (`detectors.sources.compiled_queries`); the values are bound at execution.
BOUND_PARAMETERS: dict[bool, tuple[Any, Any]] = {
    naive: (ibis.param(dtype), ibis.param(dtype))
    for naive, dtype in ((True, dt.Timestamp()), (False, dt.Timestamp(timezone="UTC")))
}


def parametrised_window(
    table: Table, time_column: str, start: datetime | None, end: datetime | None
) -> tuple[Table, dict[Any, datetime]]:
    """`window_filter` with the bounds as `BOUND_PARAMETERS`: the rows of [start, end), and
    the parameter values to execute its queries with (`expr.execute(params=...)`)."""
    column = table[time_column]
    naive = column.type().is_timestamp() and column.type().timezone is None
    low, high = BOUND_PARAMETERS[naive]
    predicates, values = [], {}
    if start is not None:
        predicates.append(column >= low)
        values[low] = _bound(start, naive)
    if end is not None:
        predicates.append(column < high)
        values[high] = _bound(end, naive)
    return (table.filter(*predicates) if predicates else table), values


def _bound(instant: datetime, naive: bool) -> datetime:
    if not naive or instant.tzinfo is None:
        return instant
    return instant.astimezone(UTC).replace(tzinfo=None)


def profile_window(
    table: Table,
    *,
    dataset: str,
    time_column: str,
    start: datetime | None,
    end: datetime | None,
    columns: Sequence[str],
    reference: WindowProfile | None = None,
    options: ProfileOptions | None = None,
) -> WindowProfile:
    """Profile `columns` of the rows in [start, end).

    With a `reference`, histograms use the reference's bin edges and rows outside the
    reference range are counted; without one, this profile is a reference and derives its
    own edges from its quantiles (one extra query, paid once since references are cached).
    """
    options = options or ProfileOptions()
    window, bounds = parametrised_window(table, time_column, start, end)
    schema = table.schema()
    kinds = {name: column_kind(schema[name]) for name in columns}
    if reference is not None:
        # The reference decided which numeric columns are really categorical (0/1, ratings).
        for name in columns:
            ref_column = reference.columns.get(name)
            if (
                ref_column is not None
                and ref_column.kind == "categorical"
                and kinds[name] == "numeric"
            ):
                kinds[name] = "categorical"
    numeric = [name for name in columns if kinds[name] == "numeric"]

    edges = _reference_edges(reference, numeric)
    # A cheap count first decides between exact and sketched quantiles.
    window_rows = int(window.count().execute(params=bounds))
    exact = window_rows <= options.exact_quantile_rows
    row = _aggregate_row(
        window, columns, kinds, edges, reference, exact_quantiles=exact, bounds=bounds
    )
    rows = int(row["__rows"])
    if reference is None:
        for name in numeric:
            present = int(row.get(f"{name}__count") or 0)
            if present and int(row.get(f"{name}__distinct") or 0) <= LOW_CARDINALITY:
                kinds[name] = "categorical"
        numeric = [name for name in columns if kinds[name] == "numeric"]
    categorical = [name for name in columns if kinds[name] == "categorical"]
    if reference is None and rows:
        edges = {
            name: _edges_from_quantiles(row.get(f"{name}__q"), options.histogram_bins)
            for name in numeric
        }
        edges = {name: cut for name, cut in edges.items() if cut}
        if edges:
            row.update(_histogram_row(window, edges, bounds))
    categories = _category_counts(window, categorical, options.top_k, bounds) if rows else {}
    raw_values = _raw_values(window, numeric, bounds) if 0 < rows <= options.raw_value_limit else {}

    profiles = {
        name: _column_profile(
            name, kinds[name], str(schema[name]), rows, row, edges, categories, raw_values
        )
        for name in columns
    }
    return WindowProfile(
        dataset=dataset,
        start=start,
        end=end,
        rows=rows,
        columns=profiles,
        schema={name: str(dtype) for name, dtype in schema.items()},
    )


def _reference_edges(
    reference: WindowProfile | None, numeric: Sequence[str]
) -> dict[str, tuple[float, ...]]:
    if reference is None:
        return {}
    edges = {}
    for name in numeric:
        ref_column = reference.columns.get(name)
        if ref_column is not None and ref_column.histogram is not None:
            edges[name] = ref_column.histogram.edges
    return edges


def _aggregate_row(
    window: Table,
    columns: Sequence[str],
    kinds: dict[str, ColumnKind],
    edges: dict[str, tuple[float, ...]],
    reference: WindowProfile | None,
    *,
    exact_quantiles: bool = True,
    bounds: dict[Any, datetime] | None = None,
) -> dict[str, Any]:
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
            if reference is None:
                # HyperLogLog: exact at the handful of values that matter here, and cheap.
                metrics[f"{name}__distinct"] = value.approx_nunique()
            metrics[f"{name}__std"] = value.std()
            levels = list(QUANTILE_LEVELS)
            metrics[f"{name}__q"] = (
                value.quantile(levels) if exact_quantiles else value.approx_quantile(levels)
            )
            for index, edge in enumerate(edges.get(name, ())):
                metrics[f"{name}__le{index}"] = count_true(value <= edge)
            ref_column = reference.columns.get(name) if reference else None
            if (
                ref_column is not None
                and ref_column.minimum is not None
                and ref_column.maximum is not None
            ):
                metrics[f"{name}__below"] = count_true(value < ref_column.minimum)
                metrics[f"{name}__above"] = count_true(value > ref_column.maximum)
        elif kind == "categorical":
            metrics[f"{name}__distinct"] = column.nunique()
        elif kind == "datetime":
            metrics[f"{name}__min"] = column.min()
            metrics[f"{name}__max"] = column.max()
    return window.aggregate(**metrics).execute(params=bounds).iloc[0].to_dict()


def count_true(condition: Any) -> Any:
    """Rows where `condition` holds (NULL counts as not), as a plain sum of 0/1.

    Engines vectorise a sum of casts far better than many FILTER clauses: 280 histogram
    counts over 1M rows take 0.8 s this way in DuckDB against 7.2 s as `count(*) FILTER`.
    """
    # int32, not int64: PostgreSQL casts boolean to integer but not to bigint.
    return condition.cast("int32").sum().coalesce(0)


def _histogram_row(
    window: Table, edges: dict[str, tuple[float, ...]], bounds: dict[Any, datetime]
) -> dict[str, Any]:
    metrics = {}
    for name, cuts in edges.items():
        value = window[name].cast("float64")
        for index, edge in enumerate(cuts):
            metrics[f"{name}__le{index}"] = count_true(value <= edge)
    return window.aggregate(**metrics).execute(params=bounds).iloc[0].to_dict()


def _edges_from_quantiles(quantiles: Any, bins: int) -> tuple[float, ...]:
    """Interior cut points at the reference's 1/bins quantiles, duplicates removed."""
    if quantiles is None:
        return ()
    values = [float(q) for q in quantiles if q is not None and math.isfinite(float(q))]
    if not values:
        return ()
    step = (len(values) - 1) / bins
    cuts = sorted({values[round(i * step)] for i in range(1, bins)})
    if not cuts:
        cuts = [values[0]]
    return tuple(cuts)


def _category_counts(
    window: Table, categorical: Sequence[str], top_k: int, bounds: dict[Any, datetime]
) -> dict[str, dict[str, int]]:
    """Top-K value counts for every categorical column, in one query (a union of group-bys)."""
    if not categorical:
        return {}
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
    result = (
        bucketed.group_by(["column_name", "value"])
        .aggregate(n=bucketed["n"].sum())
        .execute(params=bounds)
    )
    by_column: dict[str, dict[str, int]] = {name: {} for name in categorical}
    for column_name, value, n in result.itertuples(index=False):
        by_column[column_name][value] = int(n)
    return by_column


def _raw_values(
    window: Table, numeric: Sequence[str], bounds: dict[Any, datetime]
) -> dict[str, tuple[float, ...]]:
    if not numeric:
        return {}
    columns = [window[name].cast("float64").name(name) for name in numeric]
    frame = window.select(*columns).execute(params=bounds)
    return {name: tuple(float(v) for v in frame[name].dropna().tolist()) for name in numeric}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _column_profile(
    name: str,
    kind: ColumnKind,
    dtype: str,
    rows: int,
    row: dict[str, Any],
    edges: dict[str, tuple[float, ...]],
    categories: dict[str, dict[str, int]],
    raw_values: dict[str, tuple[float, ...]],
) -> ColumnProfile:
    count = int(row.get(f"{name}__count") or 0)
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "dtype": dtype,
        "rows": rows,
        "nulls": rows - count,
    }
    if kind == "numeric":
        quantiles = row.get(f"{name}__q")
        histogram = None
        if name in edges and count:
            cumulative = [int(row[f"{name}__le{i}"]) for i in range(len(edges[name]))]
            bounds = [0, *cumulative, count]
            histogram = Histogram(edges[name], tuple(b - a for a, b in itertools.pairwise(bounds)))
        below = row.get(f"{name}__below")
        above = row.get(f"{name}__above")
        return ColumnProfile(
            **common,
            minimum=_number(row.get(f"{name}__min")),
            maximum=_number(row.get(f"{name}__max")),
            mean=_number(row.get(f"{name}__mean")),
            std=_number(row.get(f"{name}__std")),
            quantiles=tuple(float(q) for q in quantiles)
            if quantiles is not None and count
            else None,
            histogram=histogram,
            below_reference=int(below) if below is not None else None,
            above_reference=int(above) if above is not None else None,
            values=raw_values.get(name),
        )
    if kind == "categorical":
        counts = dict(categories.get(name, {}))
        other = counts.pop(OTHER_CATEGORY, 0)
        return ColumnProfile(
            **common,
            distinct=int(row.get(f"{name}__distinct") or 0),
            categories=counts,
            other_count=other,
        )
    return ColumnProfile(**common)
