"""The `label_issues` strategy: rows whose given label the model contradicts (confident
learning, Northcutt et al. 2021, as cleanlab's `find_label_issues` does), planned by the
engine.

Inputs: the dataset's label column (`roles.label`) and one probability column per class
(`probability_columns`), aligned with `class_values`: the probability of class
`class_values[i]` is in `probability_columns[i]`, and a label matches a class when the
label's text (the engine's cast to string) equals the class value.

1. The *self-confidence* of a row is the predicted probability of its given label.
2. Per class j, the threshold t_j is the mean self-confidence of the rows labelled j
   (one group-by): how confident the model typically is on that class.
3. A row labelled i is a candidate when its self-confidence is below t_i and the model is
   confident about another class, p_j >= t_j for some j != i: it lies off the diagonal of
   cleanlab's confident joint.
4. Candidates are ranked by self-confidence ascending (ties by the seeded key); the score
   is the self-confidence, in [0, 1] (lower: more likely mislabelled).

Rows without a label are skipped (they have nothing to contradict). A label that is not
one of `class_values`, a missing or out-of-[0, 1] probability, or a class with no labelled
row in the window is refused: the thresholds would be undefined or wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from playbooks.base import PlanRefused
from playbooks.engine_query import fetch, fetch_value
from playbooks.selection import MAX_GROUPS, RowKeys, Selection, check_probabilities, top_rows


def select_label_issues(
    table: ir.Table,
    n: int,
    *,
    keys: RowKeys,
    label_column: str | None,
    probability_columns: Sequence[str],
    class_values: Sequence[str],
) -> Selection:
    if not label_column:
        raise PlanRefused(
            "the label_issues strategy needs the dataset's `roles.label` column (the given "
            "labels to check)"
        )
    if len(probability_columns) < 2 or len(class_values) != len(probability_columns):
        raise PlanRefused(
            "the label_issues strategy needs probability_columns (one per class, at least two) "
            "and class_values naming the class of each, in the same order"
        )
    labelled = table.filter(table[label_column].notnull())
    label = labelled[label_column].cast("string")
    counts = _label_counts(labelled, label)
    unknown = sorted(set(counts) - set(class_values))
    if unknown:
        raise PlanRefused(
            f"label column {label_column!r} holds values that are not in class_values: "
            f"{', '.join(repr(value) for value in unknown[:5])}; list every class"
        )
    empty = [value for value in class_values if not counts.get(value)]
    if empty:
        raise PlanRefused(
            f"no row of the window is labelled {', '.join(repr(value) for value in empty)}, so "
            "the class threshold is undefined; widen the window or drop the class"
        )
    check_probabilities(labelled, probability_columns, allow_missing=False)
    probabilities = [labelled[name].cast("float64") for name in probability_columns]
    self_confidence = ibis.cases(
        *[(label == value, p) for value, p in zip(class_values, probabilities, strict=True)],
        else_=ibis.null("float64"),
    )
    thresholds = _thresholds(labelled, label, self_confidence)
    confident_elsewhere = ibis.literal(False)
    for value, p in zip(class_values, probabilities, strict=True):
        confident_elsewhere = confident_elsewhere | ((label != value) & (p >= thresholds[value]))
    own_threshold = ibis.cases(
        *[(label == value, thresholds[value]) for value in class_values],
        else_=ibis.null("float64"),
    )
    candidates = labelled.mutate(warden_self_confidence=self_confidence).filter(
        (self_confidence < own_threshold) & confident_elsewhere
    )
    confidence = candidates.warden_self_confidence
    return top_rows(candidates, confidence, n, descending=False, keys=keys)


def _label_counts(labelled: ir.Table, label: ir.StringValue) -> dict[str, int]:
    distinct = int(fetch_value(label.nunique()))
    if distinct > MAX_GROUPS:
        raise PlanRefused(f"the label column has {distinct:,} distinct values; it is not a class")
    counts = fetch(labelled.group_by(warden_label=label).aggregate(rows=lambda t: t.count()))
    return {str(value): int(rows) for value, rows in counts}


def _thresholds(
    labelled: ir.Table, label: ir.StringValue, self_confidence: ir.FloatingValue
) -> dict[str, float]:
    means = fetch(
        labelled.mutate(warden_label=label, warden_self_confidence=self_confidence)
        .group_by("warden_label")
        .aggregate(threshold=lambda t: t.warden_self_confidence.mean())
    )
    return {str(value): float(threshold) for value, threshold in means}
