"""Training-serving skew: the same features, seen offline (training) and online (serving).

- `distribution_skew`: for the same window, a categorical feature's shares differ by more than
  `max_linf` in some category (L-infinity distance), or a numeric feature's Jensen-Shannon
  distance over the offline bins exceeds `max_js`, the measures TFDV uses. As for drift, the
  difference must also be significant: a KS or chi-square test, corrected across features
  (Benjamini-Hochberg), below `significance`.
- `value_skew`: joined on entity as of the serving event time, more than `max_mismatch_rate`
  of the rows carry a different value for a feature (numbers beyond the tolerances, other
  values unequal, or one side missing). A sample of mismatching entity ids is the evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.drift.base import MethodNotApplicable
from detectors.drift.correction import adjust
from detectors.drift.distributions import aligned_counts, shares
from detectors.drift.registry import companion_p_value, get_method
from detectors.profile import ColumnProfile, WindowProfile
from detectors.results import DetectorResult, Finding
from detectors.skew.params import SkewParams
from detectors.work_labels import doing

if TYPE_CHECKING:  # its module builds Ibis joins; only a skew scan with entities needs it
    from detectors.skew.values import ValueSkewStats


@doing("detector")  # the CPU profile's kind of work (detectors.work_labels)
def detect_skew(
    offline: WindowProfile,
    serving: WindowProfile,
    values: ValueSkewStats | None,
    params: SkewParams | None = None,
) -> DetectorResult:
    """Distribution skew from the two profiles, value skew from the joined counts (if any)."""
    params = params or SkewParams()
    if serving.rows < params.min_rows or offline.rows < params.min_rows:
        return DetectorResult.insufficient(
            f"skew needs at least {params.min_rows} rows on each side; "
            f"offline has {offline.rows}, serving has {serving.rows}"
        )
    findings = _distribution_findings(offline, serving, params)
    summary: dict[str, Any] = {"offline_rows": offline.rows, "serving_rows": serving.rows}
    if values is not None:
        summary.update(joined_rows=values.joined_rows, unmatched_rate=values.unmatched_rate)
        if values.joined_rows >= params.min_rows:
            findings.extend(_value_findings(values, params))
        else:
            summary["value_skew"] = f"only {values.joined_rows} serving rows found an offline row"
    else:
        summary["value_skew"] = "not computed: the two datasets are not in one engine"
    alerts = sum(1 for f in findings if f.alert)
    return DetectorResult.from_findings(
        findings, message=f"{alerts} skewed feature check(s)", summary=summary
    )


def _distribution_findings(
    offline: WindowProfile, serving: WindowProfile, params: SkewParams
) -> list[Finding]:
    measured: list[tuple[ColumnProfile, ColumnProfile, str, float, float]] = []
    for name, reference in offline.columns.items():
        current = serving.columns.get(name)
        if (
            current is None
            or current.kind != reference.kind
            or reference.kind not in ("numeric", "categorical")
        ):
            continue
        if min(reference.count, current.count) < params.min_rows:
            continue
        try:
            ref_counts, cur_counts, _ = aligned_counts(reference, current)
            p_value = companion_p_value(reference, current)
        except MethodNotApplicable:
            continue
        if reference.kind == "categorical":
            method, statistic = (
                "linf",
                float(np.max(np.abs(shares(ref_counts) - shares(cur_counts)))),
            )
        else:
            method = "jensen_shannon"
            statistic = get_method("jensen_shannon").score(reference, current).statistic
        measured.append((reference, current, method, statistic, p_value))
    adjusted = adjust([item[4] for item in measured], "bh")
    findings = []
    for (reference, current, method, statistic, raw), p_value in zip(
        measured, adjusted, strict=True
    ):
        threshold = params.max_linf if method == "linf" else params.max_js
        findings.append(
            Finding(
                "distribution_skew",
                reference.name,
                method,
                statistic,
                threshold,
                statistic > threshold and p_value < params.significance,
                p_value=p_value,
                details={
                    "raw_p_value": raw,
                    "offline_count": reference.count,
                    "serving_count": current.count,
                },
            )
        )
    return findings


def _value_findings(values: ValueSkewStats, params: SkewParams) -> list[Finding]:
    return [
        Finding(
            "value_skew",
            name,
            "mismatch_rate",
            feature.rate,
            params.max_mismatch_rate,
            feature.mismatches > 0 and feature.rate > params.max_mismatch_rate,
            details={
                "compared": feature.compared,
                "mismatches": feature.mismatches,
                "sample_entities": list(feature.sample_entities),
                "unmatched_rate": values.unmatched_rate,
            },
        )
        for name, feature in values.features.items()
    ]
