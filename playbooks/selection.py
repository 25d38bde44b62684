"""Choosing which rows of a window go to human labelling, planned by the engine.

Every strategy takes the window as an Ibis table that already carries `ROW_ID` and
`SEED_KEY` (`engine_rows.seeded_key`), and returns the chosen row ids best first with a
score saying why each was chosen. Only aggregates (bin counts, quantile edges, strata
sizes, class thresholds) and the chosen rows (at most `n`) come back into Python. Scores
are rounded to 1e-9 in the engine before ordering (`SCORE_QUANTUM`), so a last-bit
difference between engines' `ln` cannot reorder rows; ties go to the seeded key.

- `uncertainty`: rows the model was least sure about. With `probability_columns` (one
  column per class), the normalised entropy of the row's class probabilities, in [0, 1];
  otherwise the prediction column must hold a probability of the positive class in
  [0, 1], and the score is 1 - |2p - 1| (1 at p = 0.5, 0 at p = 0 or 1). A row without a
  prediction is chosen last.
- `drift_density`: rows in the regions where the current window is most over-represented
  against the reference. Each incident column is cut into bins (the reference's deciles
  for numbers, found as exact order statistics by a window function; values for
  categories; a bin of its own for missing values); bins are counted per window by
  group-by, and a row scores the sum over columns of max(0, log(current share / reference
  share)) of its bins, with add-one-half smoothing so that a bin the reference never saw
  scores high but finite. The score is a CASE expression over the bins.
- `stratified`: a proportional sample across the values of `stratify_by` (or, without
  one, ten equal time slices of the window): strata sizes by group-by, each stratum's
  share of the batch by largest remainder (`_allocate`), and within a stratum the first
  rows in seeded order (`row_number() over (partition by stratum order by key)`).

`label_issues` (confident learning) lives in `label_issues.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from playbooks.base import PlanRefused
from playbooks.engine_rows import ROW_ID, epoch_micros

#: Column of the seeded random key every strategy breaks ties with.
SEED_KEY = "warden_seed_key"
#: Smoothing added to every bin count (Jeffreys-style add-one-half).
SMOOTHING = 0.5
#: Bins per numeric column for drift_density: reference deciles.
NUMERIC_BINS = 10
#: Time slices of the window used as strata when no `stratify_by` column is given.
TIME_SLICES = 10
#: Most distinct values a `stratify_by` or categorical column may have: beyond it the
#: strata (or bins) are not a useful summary, and their CASE would be huge.
MAX_GROUPS = 10_000
#: Scores are rounded to this before ordering, so engines agree on the order.
SCORE_QUANTUM = 1e-9
MISSING = "(missing)"


@dataclass(frozen=True)
class Selection:
    row_ids: tuple[str, ...]
    scores: tuple[float, ...]


def quantised(score: ir.FloatingValue) -> ir.FloatingValue:
    """`score` rounded to SCORE_QUANTUM with floor (every engine's floor agrees; `round`
    differs on halves)."""
    return (score / SCORE_QUANTUM + 0.5).floor() * SCORE_QUANTUM  # type: ignore[no-any-return]


def top_rows(table: ir.Table, score: ir.FloatingValue, n: int, *, descending: bool) -> Selection:
    """The n rows with the best score (missing scores last), ties by the seeded key."""
    ranked = table.mutate(warden_score=quantised(score))
    order = ranked.warden_score.desc() if descending else ranked.warden_score.asc()
    missing_last = ranked.warden_score.isnull()
    chosen = (
        ranked.order_by([missing_last, order, ranked[SEED_KEY]])
        .limit(n)
        .select(ROW_ID, "warden_score")
        .execute()
    )
    scores = [float(s) if s is not None and not math.isnan(s) else 0.0 for s in chosen.iloc[:, 1]]
    return Selection(tuple(str(r) for r in chosen[ROW_ID]), tuple(scores))


def check_probabilities(table: ir.Table, columns: Sequence[str], *, allow_missing: bool) -> None:
    """Refuse columns that are not probabilities: values outside [0, 1], or (unless
    `allow_missing`) missing values; one aggregate query for all columns."""
    measures = {}
    for position, name in enumerate(columns):
        column = table[name].cast("float64")
        measures[f"low{position}"] = column.min()
        measures[f"high{position}"] = column.max()
        measures[f"missing{position}"] = column.isnull().sum()
    stats = table.aggregate(**measures).execute().iloc[0]
    for position, name in enumerate(columns):
        missing = stats[f"missing{position}"]
        if not allow_missing and missing is not None and int(missing) > 0:
            raise PlanRefused(
                f"probability column {name!r} is missing in {int(missing):,} rows of the "
                "window; every row needs a probability for every class"
            )
        low, high = stats[f"low{position}"], stats[f"high{position}"]
        if low is not None and high is not None and (float(low) < 0 or float(high) > 1):
            raise PlanRefused(
                f"column {name!r} holds values from {float(low):g} to {float(high):g}, outside "
                "[0, 1], so it is not a probability; name the class probability columns in "
                "probability_columns"
            )


def select_uncertain(
    table: ir.Table,
    n: int,
    *,
    prediction_column: str | None,
    probability_columns: Sequence[str],
) -> Selection:
    if probability_columns:
        check_probabilities(table, probability_columns, allow_missing=False)
        values = [table[name].cast("float64") for name in probability_columns]
        total = values[0]
        for value in values[1:]:
            total = total + value
        total = ibis.cases((total > 0, total), else_=ibis.null("float64"))
        entropy = ibis.literal(0.0)
        for value in values:
            share = value / total
            safe = ibis.cases((share > 0, share), else_=1.0)  # ln(1) = 0: no ln(0) anywhere
            entropy = entropy - share * safe.ln()
        score = entropy / math.log(len(probability_columns))
    else:
        if not prediction_column:
            raise PlanRefused(
                "the uncertainty strategy needs the dataset's `roles.prediction` column (a "
                "probability) or `probability_columns`"
            )
        check_probabilities(table, [prediction_column], allow_missing=True)
        p = table[prediction_column].cast("float64")
        score = 1.0 - (2.0 * p - 1.0).abs()
    return top_rows(table, score, n, descending=True)


def select_drift_dense(
    current: ir.Table, reference: ir.Table, columns: Sequence[str], n: int
) -> Selection:
    current_rows = int(current.count().execute())
    reference_rows = int(reference.count().execute())
    if reference_rows == 0:
        raise PlanRefused("the reference window holds no rows to compare densities with")
    score: ir.FloatingValue = ibis.literal(0.0)
    for column in columns:
        kind = reference[column].type()
        edges = _decile_edges(reference, column) if _is_number(kind) else None
        current_counts = _bin_counts(current, column, edges)
        reference_counts = _bin_counts(reference, column, edges)
        labels = sorted(set(current_counts) | set(reference_counts))
        smoothing = SMOOTHING * len(labels)
        weights = {}
        for label in labels:
            current_share = (current_counts.get(label, 0) + SMOOTHING) / (current_rows + smoothing)
            reference_share = (reference_counts.get(label, 0) + SMOOTHING) / (
                reference_rows + smoothing
            )
            ratio = math.log(current_share) - math.log(reference_share)
            if ratio > 0:
                weights[label] = ratio
        if weights:
            bins = bin_expr(current, column, edges)
            cases = [(bins == label, ibis.literal(weight)) for label, weight in weights.items()]
            score = score + ibis.cases(*cases, else_=0.0)
    return top_rows(current, score, n, descending=True)


def select_stratified(
    table: ir.Table, n: int, *, stratify_by: str | None, time_column: str
) -> Selection:
    strata = _strata(table, stratify_by, time_column)
    sizes = (
        table.mutate(warden_stratum=strata)
        .group_by("warden_stratum")
        .aggregate(rows=lambda t: t.count())
        .execute()
    )
    quotas = _allocate(
        n, {str(s): int(r) for s, r in zip(sizes.iloc[:, 0], sizes["rows"], strict=True)}
    )
    wanted = {name: quota for name, quota in quotas.items() if quota > 0}
    if not wanted:
        return Selection((), ())
    marked = table.mutate(warden_stratum=strata)
    rank = ibis.row_number().over(group_by=marked.warden_stratum, order_by=marked[SEED_KEY])
    quota = ibis.cases(
        *[(marked.warden_stratum == name, count) for name, count in wanted.items()], else_=0
    )
    ranked = marked.mutate(warden_rank=rank, warden_quota=quota)
    chosen = (
        ranked.filter(ranked.warden_rank < ranked.warden_quota)
        .order_by(["warden_stratum", "warden_rank"])
        .select(ROW_ID)
        .execute()
    )
    row_ids = tuple(str(r) for r in chosen[ROW_ID])
    return Selection(row_ids, tuple(0.0 for _ in row_ids))


def bin_expr(table: ir.Table, column: str, edges: Sequence[float] | None) -> ir.StringValue:
    """The bin label of each row: `bin NNN` (number of reference edges at or below the
    value) for numbers, the value as text for categories, MISSING for missing values."""
    values = table[column]
    if edges is None:
        return values.cast("string").fill_null(MISSING)  # type: ignore[no-any-return]
    number = values.cast("float64")
    slot: ir.IntegerValue = ibis.literal(0)
    for edge in edges:
        slot = slot + (number >= edge).ifelse(1, 0)  # PostgreSQL cannot cast a boolean
    label = ibis.literal("bin ") + slot.cast("string").lpad(3, "0")
    return ibis.cases((number.isnull(), ibis.literal(MISSING)), else_=label)


def _is_number(kind: object) -> bool:
    return bool(kind.is_numeric() and not kind.is_boolean())  # type: ignore[attr-defined]


def _decile_edges(reference: ir.Table, column: str) -> list[float]:
    """The reference's deciles as exact order statistics (the value at rank floor(q (N-1))
    of the sorted known values): no interpolation, so every engine finds the same edges."""
    known = reference.filter(reference[column].notnull()).select(
        warden_value=reference[column].cast("float64")
    )
    count = int(known.count().execute())
    if count == 0:
        return []
    ranks = sorted({math.floor(q / NUMERIC_BINS * (count - 1)) for q in range(1, NUMERIC_BINS)})
    ordered = known.mutate(warden_rank=ibis.row_number().over(order_by=known.warden_value))
    values = ordered.filter(ordered.warden_rank.isin(ranks)).warden_value.execute()
    return sorted({float(value) for value in values})


def _bin_counts(table: ir.Table, column: str, edges: Sequence[float] | None) -> dict[str, int]:
    bins = table.mutate(warden_bin=bin_expr(table, column, edges))
    distinct = int(bins.warden_bin.nunique().execute())
    if distinct > MAX_GROUPS:
        raise PlanRefused(
            f"column {column!r} has {distinct:,} distinct values in the window, more than "
            f"{MAX_GROUPS:,}; drift_density cannot score it by category"
        )
    counts = bins.group_by("warden_bin").aggregate(rows=lambda t: t.count()).execute()
    return {str(b): int(r) for b, r in zip(counts["warden_bin"], counts["rows"], strict=True)}


def _strata(table: ir.Table, stratify_by: str | None, time_column: str) -> ir.StringValue:
    if stratify_by:
        distinct = int(table[stratify_by].nunique().execute())
        if distinct > MAX_GROUPS:
            raise PlanRefused(
                f"stratify_by column {stratify_by!r} has {distinct:,} distinct values in the "
                f"window, more than {MAX_GROUPS:,}: strata that small are not a sample of "
                "anything; stratify by a coarser column or leave stratify_by out (time slices)"
            )
        return table[stratify_by].cast("string").fill_null(MISSING)  # type: ignore[no-any-return]
    micros = epoch_micros(table, time_column)
    bounds = table.aggregate(low=micros.min(), high=micros.max()).execute().iloc[0]
    low, high = int(bounds["low"]), int(bounds["high"])
    span = high - low
    if span == 0:
        return ibis.literal("slice 01")
    slot = ((micros - low) * TIME_SLICES // span).cast("int64")
    slot = ibis.cases((slot >= TIME_SLICES, TIME_SLICES - 1), else_=slot)
    return ibis.literal("slice ") + (slot + 1).cast("string").lpad(2, "0")


def _allocate(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split n across strata in proportion to their sizes (largest remainder, ties by
    name), never more than a stratum holds; what a full stratum cannot take goes to the
    others."""
    quotas = dict.fromkeys(sizes, 0)
    left = min(n, sum(sizes.values()))
    while left > 0:
        open_strata = {
            name: size - quotas[name] for name, size in sizes.items() if size > quotas[name]
        }
        total = sum(open_strata.values())
        exact = {name: left * room / total for name, room in open_strata.items()}
        given = {name: min(int(share), open_strata[name]) for name, share in exact.items()}
        remainder = left - sum(given.values())
        for name in sorted(exact, key=lambda key: (-(exact[key] - int(exact[key])), key)):
            if remainder == 0:
                break
            if given[name] < open_strata[name]:
                given[name] += 1
                remainder -= 1
        for name, amount in given.items():
            quotas[name] += amount
        left -= sum(given.values())
    return quotas
