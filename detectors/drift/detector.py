"""The drift detector: score every column, correct for multiple tests, apply the floors.

Method choice when `method: auto` (per column, overridable with `column_methods`), following
Evidently's rule: numeric columns use Kolmogorov-Smirnov when the reference has at most
`small_sample_rows` values (1,000) and the normalised Wasserstein distance above that;
categorical columns use chi-square up to that size and Jensen-Shannon above. Tests alert on a
p-value below their threshold (0.05) after correction across all tested columns of the scan
(Benjamini-Hochberg by default) and only when the effect size reaches `min_effect`, so that
huge samples do not alert on trivial differences. Distances alert at statistic >= threshold
(0.1 for Wasserstein, Jensen-Shannon and PSI).

The column's role picks the pattern: the label column drifts as `label_drift`, the prediction
column as `prediction_drift`, others as `feature_drift`. Categories that a complete reference
never had raise `category_emergence` when they make up `new_category_min_share` of the window.
"""

from __future__ import annotations

from typing import Any

from detectors.drift.base import MethodNotApplicable, MethodScore
from detectors.drift.correction import adjust
from detectors.drift.distributions import aligned_counts
from detectors.drift.params import DriftParams
from detectors.drift.registry import get_method
from detectors.profile import ColumnProfile, WindowProfile
from detectors.results import DetectorResult, Finding


def choose_method(reference: ColumnProfile, params: DriftParams) -> str:
    """The method for one column: an override, the monitor's method, or the auto rule."""
    chosen = params.column_methods.get(reference.name, params.method)
    if chosen != "auto":
        return chosen
    small = reference.count <= params.small_sample_rows
    if reference.kind == "numeric":
        return "ks" if small else "wasserstein"
    return "chi_square" if small else "jensen_shannon"


def pattern_for(column: str, roles: dict[str, str]) -> str:
    if column == roles.get("label"):
        return "label_drift"
    if column == roles.get("prediction"):
        return "prediction_drift"
    return "feature_drift"


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
    scored: list[tuple[ColumnProfile, ColumnProfile, str, MethodScore]] = []
    skipped: dict[str, str] = {}
    for name, ref_column in reference.columns.items():
        cur_column = current.columns.get(name)
        if cur_column is None or cur_column.kind != ref_column.kind:
            skipped[name] = "missing or retyped in the current window (see the schema check)"
            continue
        if ref_column.count < params.min_rows or cur_column.count < params.min_rows:
            skipped[name] = f"fewer than {params.min_rows} non-null values"
            continue
        method = choose_method(ref_column, params)
        try:
            score = get_method(method).score(ref_column, cur_column)
        except MethodNotApplicable as error:
            skipped[name] = str(error)
            continue
        scored.append((ref_column, cur_column, method, score))

    tests = [index for index, item in enumerate(scored) if get_method(item[2]).is_test]
    adjusted = dict(
        zip(
            tests,
            adjust([scored[i][3].p_value or 1.0 for i in tests], params.correction),
            strict=True,
        )
    )

    findings: list[Finding] = []
    for index, (ref_column, cur_column, method, score) in enumerate(scored):
        threshold = params.threshold_for(method)
        if index in adjusted:
            p_value = adjusted[index]
            alert = p_value < threshold and score.effect >= params.min_effect
            statistic: float = score.statistic
        else:
            p_value = None
            alert = score.statistic >= threshold
            statistic = score.statistic
        findings.append(
            Finding(
                pattern=pattern_for(ref_column.name, roles),
                column=ref_column.name,
                method=method,
                statistic=statistic,
                threshold=threshold,
                p_value=p_value,
                alert=bool(alert),
                details=_evidence(
                    ref_column, cur_column, score, p_value if index in adjusted else None
                ),
            )
        )
        emergence = _category_emergence(ref_column, cur_column, params)
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


def _evidence(
    ref_column: ColumnProfile, cur_column: ColumnProfile, score: MethodScore, adjusted: float | None
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "effect": score.effect,
        "raw_p_value": score.p_value,
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
