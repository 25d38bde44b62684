"""The seeded sample a synthetic backfill learns from, drawn by the engine.

The sample is the `limit` rows of the reference window with the smallest
`seeded_key(row id, seed)` (`engine_rows.py`): a seeded random order, the same on DuckDB,
PostgreSQL and Spark, so the same reference and seed give the same rows wherever the data
lives. Row ids are the `id_column`'s values when one is named, else content hashes of the
projected columns.

Hashing every row of a 10M-row window costs minutes (the canonical text of every float is
built arithmetically), so a large window is thinned first by a cheap integer key computed
from the event time alone:

    prefilter = ((micros mod P) * A + seed * B) mod P      P = 2^31 - 1, A = 48271, B = 16807

where `micros` is the event time in microseconds since 1970 (each engine's exact
function). A row passes when `prefilter < P * fraction`, with
`fraction = OVERSAMPLE * limit / rows` (1.25 times the sample size is expected to pass),
and only those rows are hashed and ordered. Identical rows share their event time, so
they pass or fail together and keep the ids they would have in the whole
window. Integer arithmetic below 2^62 gives the same key on every engine.

The pre-filter keeps or drops all rows of one timestamp together, so it is used only when
event times are mostly distinct (at least `rows / 2` distinct values, counted by the
engine) and the window holds more than `OVERSAMPLE * limit` rows; otherwise every row is
hashed (exact, slower).

>>> prefilter_threshold(1_000_000, 50_000)
134217727
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pandas as pd

from playbooks.engine_rows import ROW_ID, row_id_expr, seeded_key

#: Rows expected to pass the pre-filter, as a multiple of the sample size: 1.25 x 50,000
#: passes 62,500 +- 250 rows, so fewer than 50,000 practically never pass.
OVERSAMPLE = 1.25
_MODULUS = 2_147_483_647  # 2^31 - 1, a prime: (x mod P) * A stays below 2^62
_MULTIPLIER = 48_271
_SEED_MULTIPLIER = 16_807
_SEEDED_KEY = "warden_seeded_key"


def prefilter_threshold(rows: int, limit: int) -> int | None:
    """The pre-filter's bound for a window of `rows` rows and a sample of `limit` rows, or
    None when the window is small enough to hash every row."""
    if rows <= OVERSAMPLE * limit:
        return None
    return int(_MODULUS * (OVERSAMPLE * limit / rows))


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
        key = _prefilter_key(window[time_column], seed, window.get_backend().name)
        window = window.filter(key < threshold)
    projected = _nan_as_missing(window.select(*wanted))
    with_ids = projected.mutate(**{ROW_ID: row_id_expr(projected, id_column)})
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


def _prefilter_key(time: ir.TimestampValue, seed: int, backend: str) -> ir.IntegerValue:
    micros = _epoch_micros(time, backend)
    mixed = (micros % _MODULUS) * _MULTIPLIER + ibis.literal((seed * _SEED_MULTIPLIER) % _MODULUS)
    return mixed % _MODULUS  # type: ignore[no-any-return]


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(value: datetime) -> int:  # type: ignore[empty-body]
    """DuckDB's microseconds since 1970 (a time without a zone read as UTC)."""


@ibis.udf.scalar.builtin(name="unix_micros")
def _spark_unix_micros(value: datetime) -> int:  # type: ignore[empty-body]
    """Spark's microseconds since 1970."""


def _epoch_micros(time: ir.TimestampValue, backend: str) -> ir.IntegerValue:
    """Microseconds since 1970-01-01T00:00:00Z, exactly, with each engine's own function:
    Ibis' portable `epoch_seconds` casts every DuckDB time through the ICU extension (2 s
    per 10M rows against 0.2 s for `epoch_us`). PostgreSQL's `extract(epoch)` is an exact
    numeric, so scaling and rounding it gives the same integer."""
    if backend == "duckdb":
        return _duckdb_epoch_us(time)  # type: ignore[no-any-return]
    if backend == "pyspark":
        return _spark_unix_micros(time)  # type: ignore[no-any-return]
    return (time.epoch_seconds() * 1_000_000).round().cast("int64")  # type: ignore[no-any-return]
