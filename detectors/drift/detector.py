"""The drift detector: score every column, correct for multiple tests, apply the floors.

Method choice when `method: auto` (per column, overridable with `column_methods`), following
Evidently's rule: numeric columns use Kolmogorov-Smirnov when the reference has at most
`small_sample_rows` values (1,000) and the normalised Wasserstein distance above that;
categorical columns use chi-square up to that size and Jensen-Shannon above. Binary columns
(a 0/1 label) use the two-proportion Z-test at every size, where Evidently switches to
Jensen-Shannon: JS 0.1 lets a label move from 50% to 59% positives unnoticed, while the
Z-test with the effect floor (a change of at least `min_effect`, 5 points of share) catches
it and still ignores trivial shifts in huge samples. Numeric columns with at most 5 distinct
values in the reference (flags, 0/1 labels, ratings) are profiled and compared as
categorical, as Evidently does.

Every column gets a p-value: a test's own, or for a distance that of a companion test on the
same profiles (KS for numeric, chi-square for categorical). The p-values of all columns of the
scan are corrected together (Benjamini-Hochberg by default). A column drifts only when its
difference is both significant and large enough:

- a test: corrected p < its threshold (0.05) and effect size >= `min_effect` (0.05), so that
  million-row windows do not alert on trivial differences (Evidently issue #50);
- a distance: distance >= its threshold (0.1 for Wasserstein, Jensen-Shannon and PSI) and
  corrected companion p < `significance` (0.05), so that a small window's chance wobble over
  the threshold does not alert (a normalised Wasserstein of 0.1 is crossed by 15% of clean
  600-row comparisons).

Under the global null (nothing drifted) BH keeps the chance of any column alerting, that is a
dataset-level false alarm, at or below 5%.

The column's role picks the pattern: the label column drifts as `label_drift`, the prediction
column as `prediction_drift`, others as `feature_drift`. Categories that a complete reference
never had raise `category_emergence` when they make up `new_category_min_share` of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detectors.drift.base import MethodNotApplicable, MethodScore
from detectors.drift.correction import adjust
from detectors.drift.distributions import aligned_counts
from detectors.drift.params import DriftParams
from detectors.drift.registry import companion_p_value, get_method
from detectors.profile import ColumnProfile, WindowProfile
from detectors.results import DetectorResult, Finding
from detectors.work_labels import doing


def choose_method(
    reference: ColumnProfile, params: DriftParams, current: ColumnProfile | None = None
) -> str:
    """The method for one column: an override, the monitor's method, or the auto rule.

    A column is binary (z_test) when both windows together hold at most two values: a
    binary reference column in which a third value appears is compared by chi-square or
    Jensen-Shannon, so the new value is scored rather than the column skipped.
    """
    chosen = params.column_methods.get(reference.name, params.method)
    if chosen != "auto":
        return chosen
    small = reference.count <= params.small_sample_rows
    if reference.kind == "numeric":
        return "ks" if small else "wasserstein"
    values = set(reference.categories or {}) | set((current and current.categories) or {})
    other = reference.other_count or (current and current.other_count)
    if len(values) <= 2 and not other:
        return "z_test"  # binary at any size: see the module docstring
    return "chi_square" if small else "jensen_shannon"


def pattern_for(column: str, roles: dict[str, str]) -> str:
    if column == roles.get("label"):
        return "label_drift"
    if column == roles.get("prediction"):
        return "prediction_drift"
    return "feature_drift"


@dataclass(frozen=True)
class _Scored:
    """One column's comparison: the method's score and the raw p-value that gates it."""

    reference: ColumnProfile
    current: ColumnProfile
    method: str
    score: MethodScore
    p_value: float


@doing("detector")  # the CPU profile's kind of work (detectors.work_labels)
def detect_drift(
    reference: WindowProfile,
    current: WindowProfile,
    params: DriftParams | None = None,
    *,
    roles: dict[str, str] | None = None,
) -> DetectorResult:
    """Compare every column present in both profiles; see the module docstring."""
    params = params or DriftParams()
    roles = roles or {}
    if reference.rows < params.min_rows or current.rows < params.min_rows:
        return DetectorResult.insufficient(
            f"drift needs at least {params.min_rows} rows in each window; "
            f"reference has {reference.rows}, current has {current.rows}",
            {"reference_rows": reference.rows, "current_rows": current.rows},
        )
    scored, skipped = _score_columns(reference, current, params)
    adjusted = adjust([item.p_value for item in scored], params.correction)
    findings: list[Finding] = []
    for item, p_value in zip(scored, adjusted, strict=True):
        findings.append(_finding(item, p_value, params, roles))
        emergence = _category_emergence(item.reference, item.current, params)
        if emergence is not None:
            findings.append(emergence)

    drifted = sum(1 for f in findings if f.alert and f.pattern != "category_emergence")
    tested = len(scored)
    summary: dict[str, Any] = {
        "columns_tested": tested,
        "columns_drifted": drifted,
        "drift_share": drifted / tested if tested else 0.0,
        "dataset_drift": bool(tested) and drifted / tested >= params.drift_share,
        "correction": params.correction,
        "skipped": skipped,
        "reference_rows": reference.rows,
        "current_rows": current.rows,
    }
    if not scored:
        return DetectorResult.insufficient("no column could be compared", summary)
    message = f"{drifted} of {tested} columns drifted"
    return DetectorResult.from_findings(findings, message=message, summary=summary)


def _score_columns(
    reference: WindowProfile, current: WindowProfile, params: DriftParams
) -> tuple[list[_Scored], dict[str, str]]:
    scored: list[_Scored] = []
    skipped: dict[str, str] = {}
    for name, ref_column in reference.columns.items():
        cur_column = current.columns.get(name)
        if cur_column is None or cur_column.kind != ref_column.kind:
            skipped[name] = "missing or retyped in the current window (see the schema check)"
            continue
        if ref_column.count < params.min_rows or cur_column.count < params.min_rows:
            skipped[name] = f"fewer than {params.min_rows} non-null values"
            continue
        method = choose_method(ref_column, params, cur_column)
        try:
            score = get_method(method).score(ref_column, cur_column)
            p_value = _gating_p_value(ref_column, cur_column, method, score)
        except MethodNotApplicable as error:
            skipped[name] = str(error)
            continue
        scored.append(_Scored(ref_column, cur_column, method, score, p_value))
    return scored, skipped


def _gating_p_value(
    reference: ColumnProfile, current: ColumnProfile, method: str, score: MethodScore
) -> float:
    """The test's own p-value, or for a distance the p-value of a companion test on the same
    profiles (KS for numeric columns, chi-square for categorical ones): a distance over its
    threshold that chance alone explains (small windows) must not alert."""
    return score.p_value if score.p_value is not None else companion_p_value(reference, current)


def _finding(item: _Scored, p_value: float, params: DriftParams, roles: dict[str, str]) -> Finding:
    """Alert when the corrected p-value is significant and the effect is large enough: for a
    test, p < its threshold and effect >= `min_effect`; for a distance, distance >= its
    threshold and p < `significance`."""
    threshold = params.threshold_for(item.method)
    if get_method(item.method).is_test:
        alert = p_value < threshold and item.score.effect >= params.min_effect
    else:
        alert = item.score.statistic >= threshold and p_value < params.significance
    return Finding(
        pattern=pattern_for(item.reference.name, roles),
        column=item.reference.name,
        method=item.method,
        statistic=item.score.statistic,
        threshold=threshold,
        p_value=p_value,
        alert=bool(alert),
        details=_evidence(item.reference, item.current, item.score, item.p_value, p_value),
    )


def _evidence(
    ref_column: ColumnProfile,
    cur_column: ColumnProfile,
    score: MethodScore,
    raw_p_value: float,
    adjusted: float,
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "effect": score.effect,
        "raw_p_value": raw_p_value,
        "adjusted_p_value": adjusted,
        "reference_count": ref_column.count,
        "current_count": cur_column.count,
    }
    if ref_column.kind == "numeric":
        details.update(
            reference_mean=ref_column.mean,
            current_mean=cur_column.mean,
            reference_std=ref_column.std,
            current_std=cur_column.std,
        )
    try:
        ref_counts, cur_counts, labels = aligned_counts(ref_column, cur_column)
        details["histogram"] = {
            "bins": labels,
            "reference": ref_counts.tolist(),
            "current": cur_counts.tolist(),
        }
        if ref_column.kind == "numeric" and ref_column.histogram is not None:
            # exact cut points: a relabel plan scores rows on these bins without recounting
            details["histogram"]["edges"] = list(ref_column.histogram.edges)
    except MethodNotApplicable:
        pass
    return details


def _category_emergence(
    ref_column: ColumnProfile, cur_column: ColumnProfile, params: DriftParams
) -> Finding | None:
    if ref_column.kind != "categorical" or not ref_column.categories_complete:
        return None
    new = {
        value: n
        for value, n in (cur_column.categories or {}).items()
        if value not in (ref_column.categories or {})
    }
    if not new:
        return None
    share = sum(new.values()) / max(1, cur_column.count)
    top = dict(sorted(new.items(), key=lambda item: -item[1])[:10])
    return Finding(
        pattern="category_emergence",
        column=ref_column.name,
        method="new_category_share",
        statistic=share,
        threshold=params.new_category_min_share,
        alert=share >= params.new_category_min_share and share > 0,
        details={"new_categories": top, "new_category_count": len(new)},
    )
