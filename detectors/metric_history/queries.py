"""Window metrics per time bucket, in one engine query (`metric_anomaly` monitors).

The same query measures the current window (one bucket) and, when the store lacks a past
window's values, every window of the training period at once (one bucket per window, cut
from the range's lower bound): a new monitor has its history on its first scan, and the
current value and the past ones are measured the same way.

Per bucket: `n` rows; per column i: `nulls_i` (SQL NULL, and NaN for floats), `mean_i`
(numeric columns, nulls left out), `distinct_i` (categorical columns, exact).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ibis.expr.types import Table


def bucket_metrics_query(
    window: Table,
    lower_bound: Any,
    time_column: str,
    seconds: int,
    numeric: Sequence[str],
    categorical: Sequence[str],
) -> Table:
    """Rows (bucket, n, nulls_<i>, mean_<i>, distinct_<i>) of `window`, bucket k holding
    the rows [lower_bound + k * seconds, lower_bound + (k + 1) * seconds); columns are
    numbered in the order `numeric` then `categorical`."""
    import ibis

    from detectors.profile_queries import count_true

    offset = window[time_column].epoch_seconds() - lower_bound.epoch_seconds()
    bucketed = window.mutate(warden_bucket=(offset // seconds).cast("int64"))
    sums: dict[str, Any] = {"n": bucketed.count()}
    for index, name in enumerate([*numeric, *categorical]):
        column = bucketed[name]
        missing = column.isnull()
        if name in numeric and column.type().is_floating():
            missing = missing | column.isnan()
        sums[f"nulls_{index}"] = count_true(missing)
        if name in numeric:
            value = column.cast("float64")
            sums[f"mean_{index}"] = ibis.ifelse(missing, ibis.null(), value).mean()
        else:
            sums[f"distinct_{index}"] = column.nunique()
    return bucketed.group_by("warden_bucket").aggregate(**sums)


def bucket_values(
    row: Mapping[str, Any], numeric: Sequence[str], categorical: Sequence[str]
) -> dict[tuple[str | None, str], float | None]:
    """The series values of one bucket's row: `row_count`, and per column `null_rate`,
    `mean` (numeric) or `distinct_count` (categorical)."""
    rows = int(row.get("n") or 0)
    values: dict[tuple[str | None, str], float | None] = {(None, "row_count"): float(rows)}
    for index, name in enumerate([*numeric, *categorical]):
        nulls = int(row.get(f"nulls_{index}") or 0)
        values[(name, "null_rate")] = nulls / rows if rows else None
        if name in numeric:
            mean = row.get(f"mean_{index}")
            values[(name, "mean")] = None if mean is None else float(mean)
        else:
            distinct = row.get(f"distinct_{index}")
            values[(name, "distinct_count")] = None if rows == 0 else float(distinct or 0)
    return values
