"""The `drift_density` strategy: rows in the regions where the current window is most
over-represented against the reference, scored by the engine.

Each incident column is cut into bins, and a row scores the sum over columns of
max(0, ln(current share / reference share)) of its bins, with add-one-half smoothing
(`SMOOTHING` added to every bin's count), so that a bin the reference never saw scores
high but finite. The weights are computed in Python from bin counts and rounded there to
whole `SCORE_QUANTUM` (1e-9): the engine only adds integer weights chosen by comparisons
(a CASE per column, adjacent bins of equal weight merged), in BIGINT arithmetic, exact and
the same on every engine, and `selection.top_rows` keys and orders the best rows. (Float
literals would be summed as DECIMAL by DuckDB, PostgreSQL and Spark alike: three times
slower at a million rows.) The bins of a column come from one of two places:

- **the incident's evidence** (preferred; no query at all): the drift detector's finding
  for the column carries the histogram it tested (`details.histogram`). For numbers, the
  reference's cut points (`edges`, exact floats) and the reference and current rows per
  bin, where bin i holds the values <= edges[i] and above edges[i-1], and the last bin the
  values above every edge; for text categories, the rows per category (the detector's
  top-K, the rest pooled in `(other)`). Missing values are in no bin and score 0. The scan
  has already counted these rows, so the plan does not count them again.
- **the engine** (a finding without a usable histogram: another detector, an older
  incident, a category column that is not text): numbers are cut at the reference's
  deciles, found as exact order statistics by a window function (the value at rank
  floor(q (N-1)) of the sorted known values, so every engine finds the same edges);
  categories by their text; missing values get a bin of their own. Bins are counted per
  window by group-by.

Either way the same data and evidence give the same weights, the same CASE and so the same
rows on DuckDB, PostgreSQL and Spark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from playbooks.base import PlanRefused
from playbooks.engine_query import fetch, fetch_value
from playbooks.selection import (
    MAX_GROUPS,
    MISSING,
    SCORE_QUANTUM,
    RowKeys,
    Selection,
    top_rows,
)

#: Smoothing added to every bin count (Jeffreys-style add-one-half).
SMOOTHING = 0.5
#: Bins per numeric column when the engine cuts them: reference deciles.
NUMERIC_BINS = 10
#: The drift detector's label for the categories beyond its top-K.
OTHER_LABEL = "(other)"


@dataclass(frozen=True)
class Bins:
    """A column's bins and their rows in each window. `edges` (numbers) are ascending cut
    points: bin i holds the values <= edges[i] and above edges[i-1], bin len(edges) the
    values above every edge. Without edges, `labels` are category texts; `MISSING` (engine
    bins only) is the bin of missing values."""

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    edges: tuple[float, ...] | None = None

    def weights(self) -> dict[str, float]:
        """ln(current share / reference share) of each over-represented bin (> 0 only)."""
        smoothing = SMOOTHING * len(self.labels)
        current_total = sum(self.current) + smoothing
        reference_total = sum(self.reference) + smoothing
        found = {}
        for label, ref, cur in zip(self.labels, self.reference, self.current, strict=True):
            ratio = math.log((cur + SMOOTHING) / current_total) - math.log(
                (ref + SMOOTHING) / reference_total
            )
            if ratio > 0:
                found[label] = ratio
        return found

    def weights_in_quanta(self) -> dict[str, int]:
        """`weights()` in whole SCORE_QUANTUM (rounded half up), the integers the engine
        adds; bins whose weight rounds to 0 are left out."""
        rounded = {
            label: math.floor(weight / SCORE_QUANTUM + 0.5)
            for label, weight in self.weights().items()
        }
        return {label: quanta for label, quanta in rounded.items() if quanta > 0}


def select_drift_dense(
    current: ir.Table,
    reference: ir.Table,
    columns: Sequence[str],
    n: int,
    *,
    keys: RowKeys,
    findings: Sequence[Mapping[str, Any]] = (),
) -> Selection:
    """The n rows of `current` with the highest drift density over `columns` (see the
    module docstring); `findings` are the incident's findings, whose histograms are used
    where they fit the column."""
    evidence: dict[str, Any] = {}
    for finding in findings:  # a column may have several findings; the one with a histogram
        histogram = (finding.get("details") or {}).get("histogram")
        if finding.get("column") and histogram is not None:
            evidence.setdefault(str(finding["column"]), histogram)
    # A BIGINT zero starts the sum, so that every engine adds in 64 bits: integer literals
    # are 32-bit where they fit, and DuckDB and PostgreSQL refuse a 32-bit sum that
    # overflows. (Ibis writes an int64 literal bare; only a cast is written as one.)
    score: ir.IntegerValue = ibis.literal(0, type="int8").cast("int64")
    for column in columns:
        bins = evidence_bins(evidence.get(column), current[column].type())
        if bins is None:
            bins = _engine_bins(current, reference, column)
        weights = bins.weights_in_quanta()
        if weights:
            score = score + _bin_weight(current[column], bins, weights)
    return top_rows(current, score, n, descending=True, keys=keys, in_quanta=True)


def evidence_bins(histogram: Any, kind: Any) -> Bins | None:
    """A drift finding's `histogram` as Bins, or None when it does not fit a column of
    type `kind`: numbers need the exact `edges` (one fewer than the bins), categories
    must be text (the detector counted their text), counts must be whole and >= 0."""
    if not isinstance(histogram, Mapping):
        return None
    labels, ref, cur = (histogram.get(key) for key in ("bins", "reference", "current"))
    if not (isinstance(labels, list) and isinstance(ref, list) and isinstance(cur, list)):
        return None
    if not labels or not len(labels) == len(ref) == len(cur):
        return None
    try:
        reference = tuple(_count(value) for value in ref)
        counted = tuple(_count(value) for value in cur)
    except ValueError:
        return None
    edges = histogram.get("edges")
    if _is_number(kind):
        if not isinstance(edges, list) or len(edges) != len(labels) - 1 or not edges:
            return None
        try:
            cuts = tuple(float(edge) for edge in edges)
        except (TypeError, ValueError):
            return None
        if not all(math.isfinite(c) for c in cuts) or list(cuts) != sorted(set(cuts)):
            return None
        names = tuple(f"bin {slot:03d}" for slot in range(len(labels)))
        return Bins(names, reference, counted, cuts)
    if edges is not None or not kind.is_string():
        return None
    return Bins(tuple(str(label) for label in labels), reference, counted)


def _count(value: Any) -> int:
    number = float(value)
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise ValueError(f"not a count: {value!r}")
    return int(number)


def _is_number(kind: Any) -> bool:
    return bool(kind.is_numeric() and not kind.is_boolean())


def _bin_weight(values: ir.Column, bins: Bins, weights: dict[str, int]) -> ir.IntegerValue:
    """The weight (in quanta) of each row's bin (0 for a bin without a weight), as a CASE
    of comparisons: no bin text is built per row, which made the score cost seconds per
    million rows. Numbers test `value <= edge` from the lowest edge up, and an edge whose
    two sides weigh the same is not tested (a value below it finds the same weight at the
    next edge): most bins of a drifted column weigh 0, so the CASE is short. Categories
    test equality, and a category in no bin takes the weight of `(other)` (0 without
    one)."""
    missing = weights.get(MISSING, 0)
    if bins.edges is None:
        other = weights.get(OTHER_LABEL, 0)
        text = values.cast("string")
        cases = [(values.isnull(), missing)]
        for label in bins.labels:
            weight = weights.get(label, 0)
            if label not in (MISSING, OTHER_LABEL) and weight != other:
                cases.append((text == label, weight))
        return ibis.cases(*cases, else_=other)  # type: ignore[no-any-return]
    number = values.cast("float64")
    slots = [weights.get(f"bin {slot:03d}", 0) for slot in range(len(bins.edges) + 1)]
    cases = [(number.isnull(), missing)]
    for slot, edge in enumerate(bins.edges):
        if slots[slot] != slots[slot + 1]:
            cases.append((number <= edge, slots[slot]))
    return ibis.cases(*cases, else_=slots[-1])  # type: ignore[no-any-return]


def _engine_bins(current: ir.Table, reference: ir.Table, column: str) -> Bins:
    """The column's bins counted by the engine (see the module docstring)."""
    kind = reference[column].type()
    edges = _decile_edges(reference, column) if _is_number(kind) else None
    current_counts = _bin_counts(current, column, edges)
    reference_counts = _bin_counts(reference, column, edges)
    if not reference_counts:
        raise PlanRefused("the reference window holds no rows to compare densities with")
    labels = tuple(sorted(set(current_counts) | set(reference_counts)))
    return Bins(
        labels,
        tuple(reference_counts.get(label, 0) for label in labels),
        tuple(current_counts.get(label, 0) for label in labels),
        tuple(edges) if edges is not None else None,
    )


def _decile_edges(reference: ir.Table, column: str) -> list[float]:
    """The reference's deciles as exact order statistics (the value at rank floor(q (N-1))
    of the sorted known values): no interpolation, so every engine finds the same edges."""
    known = reference.filter(reference[column].notnull()).select(
        warden_value=reference[column].cast("float64")
    )
    count = int(fetch_value(known.count()))
    if count == 0:
        return []
    ranks = sorted({math.floor(q / NUMERIC_BINS * (count - 1)) for q in range(1, NUMERIC_BINS)})
    ordered = known.mutate(warden_rank=ibis.row_number().over(order_by=known.warden_value))
    values = fetch(ordered.filter(ordered.warden_rank.isin(ranks)).select("warden_value"))
    return sorted({float(value) for (value,) in values})


def _bin_counts(table: ir.Table, column: str, edges: Sequence[float] | None) -> dict[str, int]:
    """Rows per bin label. Numbers are grouped by their bin number (the count of edges
    below the value, so bin i holds the values <= edges[i]; -1 when missing) and labelled
    in Python: at most len(edges) + 2 bins, and no bin text built per row. Categories are
    grouped by their text; more than MAX_GROUPS of them are refused."""
    if edges is not None:
        number = table[column].cast("float64")
        slot: ir.IntegerValue = ibis.literal(0)
        for edge in edges:
            slot = slot + (number > edge).ifelse(1, 0)  # PostgreSQL cannot cast a boolean
        slot = ibis.cases((number.isnull(), -1), else_=slot)
        found = fetch(table.group_by(warden_slot=slot).aggregate(rows=lambda t: t.count()))
        return {MISSING if int(s) < 0 else f"bin {int(s):03d}": int(r) for s, r in found}
    text = table[column].cast("string").fill_null(MISSING)
    counts = fetch(
        table.group_by(warden_bin=text).aggregate(rows=lambda t: t.count()).limit(MAX_GROUPS + 1)
    )
    if len(counts) > MAX_GROUPS:
        raise PlanRefused(
            f"column {column!r} has more than {MAX_GROUPS:,} distinct values in the window; "
            "drift_density cannot score it by category"
        )
    return {str(label): int(rows) for label, rows in counts}
