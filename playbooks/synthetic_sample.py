"""The seeded sample a synthetic backfill learns from, drawn by the engine.

The sample is the `limit` rows of the reference window with the smallest
`seeded_key(row id, seed)` (`engine_rows.py`): a seeded random order, the same on DuckDB,
PostgreSQL and Spark, so the same reference and seed give the same rows wherever the data
lives. Row ids are the `id_column`'s values when one is named, else content hashes of the
projected columns.

Hashing every row of a 10M-row window costs minutes, so a large window is thinned first
by the seeded pre-filter on event time (`time_prefilter.py`): a row passes at fraction
`OVERSAMPLE * limit / rows` (1.25 times the sample size is expected to pass), and only
those rows are hashed and ordered.

The pre-filter keeps or drops all rows of one timestamp together, so it is used only when
event times are mostly distinct (at least `rows / 2` distinct values, counted by the
engine) and the window holds more than `OVERSAMPLE * limit` rows; otherwise every row is
hashed (exact, slower).

>>> prefilter_threshold(1_000_000, 50_000)
134217727
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from playbooks.engine_rows import ROW_ID, seeded_key, with_row_ids
from playbooks.time_prefilter import MODULUS, prefilter_key

#: Rows expected to pass the pre-filter, as a multiple of the sample size: 1.25 x 50,000
#: passes 62,500 +- 250 rows, so fewer than 50,000 practically never pass.
OVERSAMPLE = 1.25
_SEEDED_KEY = "warden_seeded_key"


def prefilter_threshold(rows: int, limit: int) -> int | None:
    """The pre-filter's bound for a window of `rows` rows and a sample of `limit` rows, or
    None when the window is small enough to hash every row."""
    if rows <= OVERSAMPLE * limit:
        return None
    return int(MODULUS * (OVERSAMPLE * limit / rows))


def seeded_sample(
    window: ir.Table,
    *,
    columns: Sequence[str],
    time_column: str,
    id_column: str | None,
    seed: int,
    limit: int,
    rows: int,
    distinct_times: int,
) -> pd.DataFrame:
    """The seeded sample of `window` (see the module docstring), `columns` plus the time
    column and `ROW_ID`, in seeded order. `rows` and `distinct_times` are the window's row
    count and (approximate) count of distinct event times, from the engine."""
    wanted = list(dict.fromkeys([time_column, *columns, *([id_column] if id_column else [])]))
    threshold = prefilter_threshold(rows, limit)
    timed = window[time_column].type().is_timestamp()
    if threshold is not None and timed and distinct_times * 2 >= rows:
        # Filter first: projecting every row before the filter costs as much again.
        window = window.filter(prefilter_key(window, time_column, seed) < threshold)
    projected = _nan_as_missing(window.select(*wanted))
    with_ids = with_row_ids(projected, id_column)
    ordered = with_ids.mutate(**{_SEEDED_KEY: seeded_key(with_ids[ROW_ID], seed)})
    picked = ordered.order_by([_SEEDED_KEY, ROW_ID]).limit(limit)
    frame = picked.execute()
    # The engine sorted it; a stable sort here keeps that order whatever the driver did.
    frame = frame.sort_values([_SEEDED_KEY, ROW_ID], kind="mergesort")
    return frame.drop(columns=[_SEEDED_KEY]).reset_index(drop=True)


def is_nan(column: ir.FloatingValue) -> ir.BooleanValue:
    """Whether a floating-point value is NaN, on every engine.

    Not `isnan`: DuckDB 2.0 folds `isnan(x)` (and `x > 'inf'`) to false from a Parquet
    column's min/max statistics, which leave NaN out. x - x is 0 for every finite x, NaN for
    NaN and for +-inf; NaN is unequal to 0 on DuckDB, PostgreSQL and Spark alike.
    """
    return ((column - column) != 0) & ~column.isinf()  # type: ignore[no-any-return]


def _nan_as_missing(table: ir.Table) -> ir.Table:
    """Floating-point NaN as NULL: both are a missing value to the generator, and the
    content hash of a NaN cell fails on DuckDB (a Parquet NaN reaches `log10`)."""
    floats = {
        name: ibis.cases((is_nan(table[name]), ibis.null(kind)), else_=table[name])  # type: ignore[arg-type]
        for name, kind in table.schema().items()
        if kind.is_floating()
    }
    return table.mutate(**floats) if floats else table
