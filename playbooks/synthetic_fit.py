"""What a synthetic backfill learns from its reference window, computed where the data lives.

`fit_reference` runs a handful of engine queries over the reference window and brings into
Python only aggregates and one bounded sample:

1. one aggregate: the row count, each column's non-missing count (NaN is missing), the
   rows of each reference bucket and the (approximate, HyperLogLog) number of distinct event times;
2. the seeded sample (`synthetic_sample.py`): at most `sample_rows` rows (default 50,000),
   the same for the same data and seed on every engine;
3. `count(distinct)` of the string and integer columns that are unique in the sample, to
   find unique keys (`synthetic_ids.py`); a column with a repeat in the sample is not one;
4. for each categorical column, its `TOP_CATEGORIES` most frequent values and their counts
   (a group-by; ties broken by value).

The Gaussian copula (`copula.py`) is then fitted from those: numeric marginals from the
sample's quantiles with the engine's missing shares, category frequencies from the engine's
counts, correlations from the sample. Memory is bounded by the sample, not the reference.

A reference with fewer than `MIN_REFERENCE_ROWS` rows (30) is refused: quantiles and
correlations of fewer rows say little about the next partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from detectors.profile_queries import count_true, window_filter
from playbooks.base import PlanRefused
from playbooks.copula import (
    CategoricalMarginal,
    CopulaModel,
    categorical_marginal,
    correlation,
    numeric_marginal,
)
from playbooks.synthetic_sample import is_nan, seeded_sample

MIN_REFERENCE_ROWS = 30
#: Values per categorical column counted exactly by the engine; rarer ones come from the
#: sample (see `copula.categorical_marginal`).
TOP_CATEGORIES = 1000


@dataclass(frozen=True)
class ReferenceFit:
    """The fitted model and the facts a plan shows about it."""

    rows: int
    #: Rows of each reference bucket, oldest first.
    bucket_rows: tuple[int, ...]
    sample: pd.DataFrame
    model: CopulaModel
    #: Columns the model generates, in the dataset's order.
    modelled: tuple[str, ...]
    #: Identifier columns (never modelled) and why each is one.
    identifiers: dict[str, str]


def fit_reference(
    table: ir.Table,
    *,
    time_column: str,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    columns: Sequence[str],
    entity_column: str | None,
    id_column: str | None,
    seed: int,
    sample_rows: int,
) -> ReferenceFit:
    """Fit the generator on `columns` of the rows of `table` in [start, end) (see the
    module docstring); `bucket` cuts the window into the buckets counted in `bucket_rows`."""
    schema = table.schema()
    window = window_filter(table, time_column, start, end)
    facts = _counts(window, time_column, columns, start, end, bucket)
    rows = int(facts["rows"])
    if rows < MIN_REFERENCE_ROWS:
        raise PlanRefused(
            f"the reference window {start.isoformat()} .. {end.isoformat()} holds {rows} "
            f"rows; the generator needs at least {MIN_REFERENCE_ROWS} to learn from"
        )
    identifiers: dict[str, str] = {}
    if entity_column and entity_column in columns:
        identifiers[entity_column] = "entity column"
    if id_column:
        identifiers[id_column] = "id_column"
        _check_id_column(window, id_column, rows)
    sample = seeded_sample(
        window,
        columns=columns,
        time_column=time_column,
        id_column=id_column,
        seed=seed,
        limit=sample_rows,
        rows=rows,
        distinct_times=int(facts["distinct_times"] or 0),
    )
    for name in _unique_keys(window, sample, columns, schema, facts, exclude=identifiers):
        identifiers[name] = "unique key"
    modelled = tuple(name for name in columns if name not in identifiers)
    model = CopulaModel()
    categorical = []
    for name in modelled:
        dtype = schema[name]
        present = int(facts[f"{name}__count"])
        if dtype.is_numeric() and not dtype.is_boolean():
            marginal = numeric_marginal(
                sample[name], (rows - present) / rows, integer=dtype.is_integer()
            )
            if marginal is not None:
                model.numeric.append(marginal)
                continue
        categorical.append(name)
    model.correlation = correlation(sample, [m.name for m in model.numeric])
    for name in categorical:
        model.categorical.append(_categorical(window, sample, name, rows, facts))
    buckets = tuple(int(facts[f"bucket_{i}"]) for i in range(_bucket_count(start, end, bucket)))
    return ReferenceFit(rows, buckets, sample, model, modelled, identifiers)


def _counts(
    window: ir.Table,
    time_column: str,
    columns: Sequence[str],
    start: datetime,
    end: datetime,
    bucket: timedelta,
) -> dict[str, Any]:
    time = window[time_column]
    metrics: dict[str, Any] = {"rows": window.count(), "distinct_times": time.approx_nunique()}
    for name in columns:
        column = window[name]
        # NaN is a missing value here, as in pandas (the engine would count it as present).
        present = column.notnull() & ~is_nan(column) if column.type().is_floating() else None  # type: ignore[arg-type]
        metrics[f"{name}__count"] = column.count() if present is None else count_true(present)
    for index in range(_bucket_count(start, end, bucket)):
        low = _bound(time, start + index * bucket)
        high = _bound(time, min(end, start + (index + 1) * bucket))
        metrics[f"bucket_{index}"] = count_true((time >= low) & (time < high))
    return window.aggregate(**metrics).execute().iloc[0].to_dict()


def _bucket_count(start: datetime, end: datetime, bucket: timedelta) -> int:
    return max(1, -(-(end - start) // bucket))


def _bound(column: ir.Value, instant: datetime) -> datetime:
    """`instant` in the column's own type: naive UTC for a column without a time zone (as
    `window_filter` does, so Parquet statistics still prune)."""
    kind = column.type()
    if kind.is_timestamp() and kind.timezone is None and instant.tzinfo is not None:  # type: ignore[attr-defined]
        return instant.astimezone(UTC).replace(tzinfo=None)
    return instant


def _check_id_column(window: ir.Table, id_column: str, rows: int) -> None:
    column = window[id_column]
    found = window.aggregate(present=column.count(), distinct=column.nunique()).execute()
    present, distinct = int(found["present"].iloc[0]), int(found["distinct"].iloc[0])
    if present != rows or distinct != rows:
        raise PlanRefused(
            f"id_column {id_column!r} must be unique and never missing in the reference "
            f"window: {rows:,} rows hold {present:,} values, {distinct:,} distinct"
        )


def _unique_keys(
    window: ir.Table,
    sample: pd.DataFrame,
    columns: Sequence[str],
    schema: Any,
    facts: dict[str, Any],
    *,
    exclude: dict[str, str],
) -> list[str]:
    candidates = []
    for name in columns:
        kind = schema[name]
        if name in exclude or not (kind.is_string() or kind.is_integer()):
            continue
        values = sample[name].dropna()
        if len(values) >= 2 and values.is_unique and int(facts[f"{name}__count"]) >= 2:
            candidates.append(name)
    if not candidates:
        return []
    distinct = (
        window.aggregate(**{name: window[name].nunique() for name in candidates}).execute().iloc[0]
    )
    return [name for name in candidates if int(distinct[name]) == int(facts[f"{name}__count"])]


def _categorical(
    window: ir.Table, sample: pd.DataFrame, name: str, rows: int, facts: dict[str, Any]
) -> CategoricalMarginal:
    present = int(facts[f"{name}__count"])
    top: list[tuple[Any, int]] = []
    if present:
        values = window.filter(window[name].notnull())
        counted = values.group_by(name).aggregate(warden_n=values.count())
        frame = counted.order_by([ibis.desc("warden_n"), name]).limit(TOP_CATEGORIES).execute()
        top = [(value, int(n)) for value, n in zip(frame[name], frame["warden_n"], strict=True)]
    tail = present - sum(n for _, n in top)
    return categorical_marginal(sample[name], top, missing=rows - present, tail=tail)
