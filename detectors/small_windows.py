"""Small windows profiled in Python from their rows: one query reads them, no aggregate.

An engine's aggregate has a cost floor per aggregate function, whatever the rows: on
DuckDB about 0.25 ms each, so the profile query of a window of 100 rows with five columns
(about 86 aggregates: counts, moments, quantiles, histogram counts) takes about 25 ms,
the largest part of a small scan's CPU (`bench/scheduler_load.py`). A window of at most
`ProfileOptions.raw_value_limit` rows (1,000) ships its numeric values to Python anyway
for the exact small-sample tests; reading all its monitored columns instead, and computing
the statistics here, costs about a millisecond.

The statistics follow DuckDB's own aggregates, which the engine path runs, so a profile is
the same either way (tested against the engine on data with NULL, NaN and infinities):
- NULL is absent; NaN is a present value that sorts after every number (`min` skips it,
  `max` and the upper quantiles are NaN, the mean and standard deviation are NaN), and it
  compares greater than any number (counted `above` the reference's maximum).
- The mean is a plain running sum over the rows divided by their count; the sample
  standard deviation is Welford's running update (as DuckDB's `stddev_samp`); exact
  quantiles interpolate linearly between the order statistics around (n - 1) x level.
  Floating-point results may differ from the engine's in the last digit (the engine may
  add the rows in another order); counts, histograms and categories are exact.
- Categories are the engine's own text of each value (cast in the query), ranked by count,
  then by value (code point order, which is UTF-8 byte order, as DuckDB compares text).

Only DuckDB sources use it (`ENGINES`), and only for windows compared with a reference
(a reference profile also estimates distinct counts with a sketch, which is left to the
engine); numeric columns of decimal type and categorical columns other than text and
booleans go to the engine path, whose casts this module does not restate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from detectors.column_types import ColumnType
from detectors.profile import OTHER_CATEGORY, QUANTILE_LEVELS, ColumnKind

if TYPE_CHECKING:
    from ibis.expr.types import Table

#: Engines whose aggregate semantics this module restates.
ENGINES = frozenset({"duckdb"})


def eligible(
    engine: str,
    types: Mapping[str, ColumnType],
    columns: Sequence[str],
    kinds: Mapping[str, ColumnKind],
) -> bool:
    """Whether a window of these columns can be profiled from its rows here."""
    if engine not in ENGINES:
        return False
    for name in columns:
        family = types[name].family
        if kinds[name] == "numeric" and family not in ("floating", "integer"):
            return False
        if kinds[name] == "categorical" and family not in ("string", "boolean"):
            return False
    return True


def window_rows_query(
    window: Table, columns: Sequence[str], kinds: Mapping[str, ColumnKind], limit: int
) -> Table:
    """The window's monitored columns, numeric ones as float64 and categorical ones as the
    engine's text (as the engine path's queries cast them), at most `limit` rows."""
    selected = []
    for name in columns:
        column = window[name]
        if kinds[name] == "numeric":
            column = column.cast("float64")
        elif kinds[name] == "categorical":
            column = column.cast("string")
        selected.append(column.name(name))
    return window.select(*selected).limit(limit)


def aggregate_row(
    rows: Sequence[tuple[Any, ...]],
    columns: Sequence[str],
    kinds: Mapping[str, ColumnKind],
    edges: Mapping[str, tuple[float, ...]],
    ranges: Mapping[str, tuple[float, float]],
) -> dict[str, Any]:
    """What the engine's aggregate query (`detectors.profile_queries.aggregate_query`, exact
    quantiles, no distinct estimates) returns for these rows, under the same names."""
    row: dict[str, Any] = {"__rows": len(rows)}
    for index, name in enumerate(columns):
        values = [item[index] for item in rows if item[index] is not None]
        row[f"{name}__count"] = len(values)
        kind = kinds[name]
        if kind == "numeric":
            row.update(_numeric(name, values, edges.get(name, ()), ranges.get(name)))
        elif kind == "categorical":
            row[f"{name}__distinct"] = len(set(values))
        elif kind == "datetime":
            row[f"{name}__min"] = min(values) if values else None
            row[f"{name}__max"] = max(values) if values else None
    return row


def category_counts(
    rows: Sequence[tuple[Any, ...]],
    columns: Sequence[str],
    categorical: Sequence[str],
    top_k: int,
) -> dict[str, dict[str, int]]:
    """What `detectors.profile_queries.category_query` returns for these rows: per column,
    its `top_k` most frequent values (ties by value) and the rest as `OTHER_CATEGORY`."""
    by_column: dict[str, dict[str, int]] = {}
    for name in categorical:
        index = columns.index(name)
        counts = Counter(item[index] for item in rows if item[index] is not None)
        ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
        kept = dict(ranked[:top_k])
        rest = sum(n for _, n in ranked[top_k:])
        if rest:
            kept[OTHER_CATEGORY] = kept.get(OTHER_CATEGORY, 0) + rest
        by_column[name] = kept
    return by_column


def _numeric(
    name: str,
    values: list[float],
    cuts: tuple[float, ...],
    reference_range: tuple[float, float] | None,
) -> dict[str, Any]:
    numbers = [v for v in values if not math.isnan(v)]
    has_nan = len(numbers) < len(values)
    stats: dict[str, Any] = {
        f"{name}__min": min(numbers) if numbers else (math.nan if values else None),
        f"{name}__max": (math.nan if has_nan else max(numbers)) if values else None,
        f"{name}__mean": _mean(values),
        f"{name}__std": _sample_std(values),
        f"{name}__q": _quantiles(numbers, len(values) - len(numbers)) if values else None,
    }
    for index, edge in enumerate(cuts):
        stats[f"{name}__le{index}"] = sum(1 for v in numbers if v <= edge)
    if reference_range is not None:
        minimum, maximum = reference_range
        # NaN compares greater than any number in DuckDB: above the maximum, never below.
        stats[f"{name}__below"] = sum(1 for v in numbers if v < minimum)
        stats[f"{name}__above"] = sum(1 for v in numbers if v > maximum) + (
            len(values) - len(numbers)
        )
    return stats


def _mean(values: list[float]) -> float | None:
    if not values:
        return None
    total = 0.0
    for value in values:  # a running sum, as the engine adds them (not math.fsum)
        total += value
    return total / len(values)


def _sample_std(values: list[float]) -> float | None:
    """Welford's running update, as DuckDB's `stddev_samp`; None below two values."""
    if len(values) < 2:
        return None
    count, mean, squares = 0, 0.0, 0.0
    for value in values:
        count += 1
        step = (value - mean) / count
        new_mean = mean + step
        squares += (value - new_mean) * (value - mean)
        mean = new_mean
    return math.sqrt(squares / (count - 1))  # each update adds a product of like signs


def _quantiles(numbers: list[float], nans: int) -> list[float]:
    """Exact quantiles at `QUANTILE_LEVELS`, interpolated; NaN values sort last."""
    ordered = sorted(numbers) + [math.nan] * nans
    last = len(ordered) - 1
    result = []
    for level in QUANTILE_LEVELS:
        position = last * level
        low, high = math.floor(position), math.ceil(position)
        if low == high:
            result.append(ordered[low])
            continue
        fraction = position - low
        result.append(ordered[low] * (1 - fraction) + ordered[high] * fraction)
    return result
