"""Choosing which rows of a window go to human labelling, planned by the engine.

Every strategy takes the window as an Ibis table and `RowKeys`, which name its rows
(`ROW_ID`) and give them a seeded random key (`SEED_KEY`, `engine_rows.seeded_key`), and
returns the chosen row ids best first with a score saying why each was chosen. Only
aggregates (bin counts, quantile edges, strata sizes, class thresholds) and the chosen rows
(at most `n`) come back into Python. Scores are rounded to 1e-9 in the engine before
ordering (`SCORE_QUANTUM`), so a last-bit difference between engines' `ln` cannot reorder
rows; ties go to the seeded key.

Row ids cost (a content hash is an md5 of every cell as text, seconds per million rows), so
the score-ordered strategies key only the rows that can be chosen (`top_rows`): the n-th
best rounded score s_n is found first (a top-n query), and only rows scoring at least as
well as s_n get ids and keys. Identical rows score alike, so they are kept or dropped
together and their `-2`, `-3` ids are those of the whole window: the choice is exactly the
one made by keying every row. (Rows whose floats differ only beyond 15 significant digits
share a hash; should a boundary split them, which of them is `-2` was arbitrary anyway.)

- `uncertainty`: rows the model was least sure about. With `probability_columns` (one
  column per class), the normalised entropy of the row's class probabilities, in [0, 1];
  otherwise the prediction column must hold a probability of the positive class in
  [0, 1], and the score is 1 - |2p - 1| (1 at p = 0.5, 0 at p = 0 or 1). A row without a
  prediction is chosen last.
- `stratified`: a proportional sample across the values of `stratify_by` (or, without
  one, ten equal time slices of the window): strata sizes by group-by, each stratum's
  share of the batch by largest remainder (`_allocate`), and within a stratum the first
  rows in seeded order (`row_number() over (partition by stratum order by key)`) among
  those passing the stratum's seeded pre-filter on event time (`time_prefilter.py`), so
  that a 10M-row window hashes a few hundred rows, not all of them.

`drift_density` lives in `drift_density.py`, `label_issues` (confident learning) in
`label_issues.py`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from playbooks.base import PlanRefused
from playbooks.engine_query import fetch, fetch_one, fetch_value
from playbooks.engine_rows import (
    ROW_ID,
    check_id_column,
    epoch_micros,
    seeded_key,
    with_row_ids,
)
from playbooks.time_prefilter import MODULUS, prefilter_key, threshold

#: Column of the seeded random key every strategy breaks ties with.
SEED_KEY = "warden_seed_key"
#: Time slices of the window used as strata when no `stratify_by` column is given.
TIME_SLICES = 10
#: Most distinct values a `stratify_by` or categorical column may have: beyond it the
#: strata (or bins) are not a useful summary, and their CASE would be huge.
MAX_GROUPS = 10_000
#: Rows a stratum's pre-filter lets through beyond OVERSAMPLE times its quota.
PREFILTER_MARGIN = 32
#: Rows expected to pass a stratum's pre-filter, as a multiple of its quota.
OVERSAMPLE = 1.25
#: Scores are rounded to this before ordering, so engines agree on the order.
SCORE_QUANTUM = 1e-9
MISSING = "(missing)"


@dataclass(frozen=True)
class Selection:
    row_ids: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class RowKeys:
    """How the rows of a window are named: `columns` are the window's own columns (those
    the content hash covers), `id_column` names a unique column instead, already checked
    over the whole window (`engine_rows.check_id_column`), `seed` seeds the random key."""

    columns: tuple[str, ...]
    id_column: str | None
    seed: int

    @classmethod
    def for_window(cls, window: ir.Table, id_column: str | None, seed: int) -> RowKeys:
        """Keys for the rows of `window`; refuses (PlanRefused) an id_column that is not
        unique over the whole window, one aggregate, before any part of it is keyed."""
        if id_column:
            check_id_column(window, id_column)
        return cls(tuple(window.schema().names), id_column, seed)

    def attach(self, table: ir.Table) -> ir.Table:
        """`table` (rows of the window, perhaps filtered by content, perhaps with working
        columns) with `ROW_ID` and `SEED_KEY`."""
        keyed = with_row_ids(table, self.id_column, columns=self.columns, id_checked=True)
        return keyed.mutate(**{SEED_KEY: seeded_key(keyed[ROW_ID], self.seed)})


def quanta(score: ir.FloatingValue) -> ir.IntegerValue:
    """`score` in whole SCORE_QUANTUM, rounded with floor (every engine's floor agrees;
    `round` differs on halves)."""
    return (score / SCORE_QUANTUM + 0.5).floor()  # type: ignore[no-any-return]


def top_rows(
    table: ir.Table,
    score: ir.NumericValue,
    n: int,
    *,
    descending: bool,
    keys: RowKeys,
    in_quanta: bool = False,
) -> Selection:
    """The n rows with the best rounded score (missing scores last), ties by the seeded key.

    `score` is a float rounded here to SCORE_QUANTUM, or with `in_quanta` an integer
    already counted in whole quanta (exact on every engine: nothing left to round).

    Only the rows that can be chosen are keyed: those whose rounded score is at least as
    good as the n-th best (all rows when there are at most n, or when the n-th best score
    is missing). The boundary is compared in whole quanta, an integer, so it crosses from
    the engine to Python and back exactly, and so do the chosen scores (their quanta).
    """
    scored = table.mutate(warden_quanta=score if in_quanta else quanta(score))
    boundary = _nth_best(scored, n, descending=descending)
    if boundary is not None:
        value = scored.warden_quanta
        scored = scored.filter(value >= boundary if descending else value <= boundary)
    ranked = keys.attach(scored)
    order = ranked.warden_quanta.desc() if descending else ranked.warden_quanta.asc()
    missing_last = ranked.warden_quanta.isnull()
    chosen = fetch(
        ranked.order_by([missing_last, order, ranked[SEED_KEY]])
        .limit(n)
        .select(ROW_ID, "warden_quanta")
    )
    scores = tuple(0.0 if q is None else int(q) * SCORE_QUANTUM for _, q in chosen)
    return Selection(tuple(str(row_id) for row_id, _ in chosen), scores)


def _nth_best(scored: ir.Table, n: int, *, descending: bool) -> int | None:
    """The n-th best `warden_quanta` of `scored` (a top-n query in the engine), or None
    when there are fewer than n rows or the n-th has no score (then every row may be
    chosen)."""
    order = scored.warden_quanta.desc() if descending else scored.warden_quanta.asc()
    found = fetch(
        scored.order_by([scored.warden_quanta.isnull(), order])
        .limit(1, offset=n - 1)
        .select("warden_quanta")
    )
    if not found or found[0][0] is None:
        return None
    return int(found[0][0])


def check_probabilities(table: ir.Table, columns: Sequence[str], *, allow_missing: bool) -> None:
    """Refuse columns that are not probabilities: values outside [0, 1], or (unless
    `allow_missing`) missing values; one aggregate query for all columns."""
    measures = {}
    for position, name in enumerate(columns):
        column = table[name].cast("float64")
        measures[f"low{position}"] = column.min()
        measures[f"high{position}"] = column.max()
        measures[f"missing{position}"] = column.isnull().sum()
    row = fetch_one(table.aggregate(**measures))
    assert row is not None  # an aggregate without a group by has one row
    stats = dict(zip(measures, row, strict=True))
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
    keys: RowKeys,
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
    return top_rows(table, score, n, descending=True, keys=keys)


def select_stratified(
    table: ir.Table, n: int, *, keys: RowKeys, stratify_by: str | None, time_column: str
) -> Selection:
    """A proportional sample of n rows across strata (see the module docstring): within a
    stratum, the rows first in seeded order among those that pass the stratum's
    pre-filter on event time (`time_prefilter.py`), so only about
    `OVERSAMPLE * quota + PREFILTER_MARGIN` rows per stratum are hashed. A stratum where
    too few rows pass (event times shared by many rows) is drawn again at four times the
    fraction, up to every row."""
    marked = table.mutate(warden_stratum=_strata(table, stratify_by, time_column))
    sizes = _strata_sizes(marked, stratify_by)
    wanted = {name: quota for name, quota in _allocate(n, sizes).items() if quota > 0}
    if not wanted:
        return Selection((), ())
    timed = table[time_column].type().is_timestamp()
    fractions = {
        name: _pass_fraction(quota, sizes[name]) if timed else 1.0 for name, quota in wanted.items()
    }
    while True:
        chosen = _first_in_seeded_order(marked, wanted, fractions, keys, time_column)
        found = Counter(stratum for _, stratum in chosen)
        short = [
            name
            for name, quota in wanted.items()
            if found.get(name, 0) < quota and fractions[name] < 1.0
        ]
        if not short:
            break
        for name in short:
            fractions[name] = min(1.0, fractions[name] * 4)
    row_ids = tuple(str(row_id) for row_id, _ in chosen)
    return Selection(row_ids, tuple(0.0 for _ in row_ids))


def _strata_sizes(marked: ir.Table, stratify_by: str | None) -> dict[str, int]:
    """Rows per stratum, one group-by; refuses a `stratify_by` column with more than
    MAX_GROUPS values (at most MAX_GROUPS + 1 groups are brought back to tell)."""
    sizes = fetch(
        marked.group_by("warden_stratum").aggregate(rows=lambda t: t.count()).limit(MAX_GROUPS + 1)
    )
    if len(sizes) > MAX_GROUPS:
        distinct = int(fetch_value(marked.warden_stratum.nunique()))
        raise PlanRefused(
            f"stratify_by column {stratify_by!r} has {distinct:,} distinct values in the "
            f"window, more than {MAX_GROUPS:,}: strata that small are not a sample of "
            "anything; stratify by a coarser column or leave stratify_by out (time slices)"
        )
    return {str(stratum): int(rows) for stratum, rows in sizes}


def _pass_fraction(quota: int, size: int) -> float:
    """The share of a stratum's rows the pre-filter lets through: OVERSAMPLE times its
    quota plus PREFILTER_MARGIN rows are expected to pass (at least 4.8 standard deviations
    above the quota when times are distinct), all rows when that is most of the stratum."""
    expected = OVERSAMPLE * quota + PREFILTER_MARGIN
    return 1.0 if expected >= size / 2 else expected / size


def _first_in_seeded_order(
    marked: ir.Table,
    wanted: dict[str, int],
    fractions: dict[str, float],
    keys: RowKeys,
    time_column: str,
) -> list[tuple[Any, ...]]:
    """The first `wanted[s]` rows of each stratum s in seeded order among the rows that pass
    its pre-filter (`fractions[s]`), ordered by stratum and rank: (`ROW_ID`,
    `warden_stratum`) pairs."""
    part = marked.filter(marked.warden_stratum.isin(list(wanted)))
    bounds = {name: threshold(f) for name, f in fractions.items() if f < 1.0}
    if bounds:
        bound = ibis.cases(
            *[(part.warden_stratum == name, value) for name, value in bounds.items()],
            else_=MODULUS,
        )
        part = part.filter(prefilter_key(part, time_column, keys.seed) < bound)
    keyed = keys.attach(part)
    rank = ibis.row_number().over(group_by=keyed.warden_stratum, order_by=keyed[SEED_KEY])
    quota = ibis.cases(
        *[(keyed.warden_stratum == name, count) for name, count in wanted.items()], else_=0
    )
    ranked = keyed.mutate(warden_rank=rank, warden_quota=quota)
    return fetch(
        ranked.filter(ranked.warden_rank < ranked.warden_quota)
        .order_by(["warden_stratum", "warden_rank"])
        .select(ROW_ID, "warden_stratum")
    )


def _strata(table: ir.Table, stratify_by: str | None, time_column: str) -> ir.StringValue:
    if stratify_by:
        return table[stratify_by].cast("string").fill_null(MISSING)  # type: ignore[no-any-return]
    micros = epoch_micros(table, time_column)
    bounds = fetch_one(table.aggregate(low=micros.min(), high=micros.max()))
    assert bounds is not None  # an aggregate without a group by has one row
    low, high = int(bounds[0]), int(bounds[1])
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
