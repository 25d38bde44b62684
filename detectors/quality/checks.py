"""Quality and schema checks of a current window against its reference.

- `schema_change`: a reference column is missing from the current data, or its type changed.
- `null_spike`: the share of nulls rose by at least `max_null_increase` (absolute, default
  0.05 = five percentage points) and a one-sided binomial test against the reference null
  rate gives p < `significance` (default 0.001), so small windows do not alert on noise.
- `out_of_range`: at least `max_out_of_range_share` (default 1%) of current values lie
  outside the reference [min, max], significantly more than the 2 / (n_ref + 1) expected by
  chance for a sample of the same distribution (binomial test, p < `significance`).
- `corrupt_partition`: a file of the dataset could not be read (one finding per file).

>>> from detectors.profile import ColumnProfile, WindowProfile
>>> ref = WindowProfile(
...     "d", None, None, 1000, {"x": ColumnProfile("x", "numeric", "double", 1000, 10)}
... )
>>> cur = WindowProfile(
...     "d", None, None, 1000, {"x": ColumnProfile("x", "numeric", "double", 1000, 400)}
... )
>>> [f.pattern for f in detect_quality(ref, cur).alerts]
['null_spike']
"""

from __future__ import annotations

from collections.abc import Sequence

from scipy import special

from detectors.profile import ColumnProfile, WindowProfile
from detectors.quality.file_schemas import file_schema_findings
from detectors.quality.params import QualityParams
from detectors.results import DetectorResult, Finding
from detectors.sources.file_schemas import FileSchema
from detectors.work_labels import doing


@doing("detector")  # the CPU profile's kind of work (detectors.work_labels)
def detect_quality(
    reference: WindowProfile,
    current: WindowProfile,
    params: QualityParams | None = None,
    *,
    unreadable: Sequence[tuple[str, str]] = (),
    file_schemas: Sequence[FileSchema] = (),
) -> DetectorResult:
    """Run every quality check. `unreadable` lists (path, reason) of files that failed to
    read; `file_schemas` are the dataset's per-file footers (see `file_schemas.py`), compared
    over the profiles' windows (a reference from another dataset compares with all files)."""
    params = params or QualityParams()
    findings: list[Finding] = [
        Finding(
            "corrupt_partition",
            None,
            "readable",
            1.0,
            0.0,
            True,
            details={"path": path, "reason": reason},
        )
        for path, reason in unreadable
    ]
    if params.check_schema:
        findings.extend(_schema_findings(reference, current))
        same_dataset = reference.dataset == current.dataset
        reference_bounds = (reference.start, reference.end) if same_dataset else (None, None)
        findings.extend(
            file_schema_findings(file_schemas, reference_bounds, (current.start, current.end))
        )
    if current.rows < params.min_rows:
        if findings:
            return DetectorResult.from_findings(
                findings, message="current window too small for value checks"
            )
        return DetectorResult.insufficient(
            f"quality checks need at least {params.min_rows} rows; "
            f"the current window has {current.rows}",
            {"current_rows": current.rows},
        )
    for name, ref_column in reference.columns.items():
        cur_column = current.columns.get(name)
        if cur_column is None:
            continue
        findings.append(_null_finding(ref_column, cur_column, params))
        out_of_range = _range_finding(ref_column, cur_column, params)
        if out_of_range is not None:
            findings.append(out_of_range)
    alerts = sum(1 for f in findings if f.alert)
    return DetectorResult.from_findings(
        findings, message=f"{alerts} quality problem(s)", summary={"current_rows": current.rows}
    )


def _schema_findings(reference: WindowProfile, current: WindowProfile) -> list[Finding]:
    findings = []
    for name, dtype in reference.schema.items():
        now = current.schema.get(name)
        if now is None:
            change = {"change": "missing", "reference_type": dtype}
        elif now != dtype:
            change = {"change": "type", "reference_type": dtype, "current_type": now}
        else:
            continue
        findings.append(Finding("schema_change", name, "schema", 1.0, 0.0, True, details=change))
    for name in sorted(set(current.schema) - set(reference.schema)):
        findings.append(
            Finding(
                "schema_change",
                name,
                "schema",
                1.0,
                0.0,
                True,
                details={"change": "added", "current_type": current.schema[name]},
            )
        )
    return findings


def _excess_p_value(observed: int, total: int, expected_rate: float) -> float:
    """One-sided binomial p-value of seeing `observed` or more of `total` at `expected_rate`.

    P(X >= observed) = 1 - P(X <= observed - 1), the binomial survival function from
    `scipy.special` (what `scipy.stats.binomtest(..., alternative="greater")` returns).
    """
    if observed <= 0:
        return 1.0
    return float(special.bdtrc(observed - 1, total, expected_rate))


def _null_finding(
    ref_column: ColumnProfile, cur_column: ColumnProfile, params: QualityParams
) -> Finding:
    increase = cur_column.null_share - ref_column.null_share
    baseline = min(max(ref_column.null_share, 1.0 / (ref_column.rows + 1)), 1.0)
    p_value = _excess_p_value(cur_column.nulls, cur_column.rows, baseline)
    alert = increase >= params.max_null_increase and p_value < params.significance
    return Finding(
        "null_spike",
        ref_column.name,
        "null_share_increase",
        increase,
        params.max_null_increase,
        alert,
        p_value=p_value,
        details={
            "reference_null_share": ref_column.null_share,
            "current_null_share": cur_column.null_share,
            "current_nulls": cur_column.nulls,
        },
    )


def _range_finding(
    ref_column: ColumnProfile, cur_column: ColumnProfile, params: QualityParams
) -> Finding | None:
    if (
        cur_column.below_reference is None
        or cur_column.above_reference is None
        or not cur_column.count
    ):
        return None
    outside = cur_column.below_reference + cur_column.above_reference
    share = outside / cur_column.count
    expected = min(1.0, 2.0 / (ref_column.count + 1))
    p_value = _excess_p_value(outside, cur_column.count, expected)
    alert = share >= params.max_out_of_range_share and p_value < params.significance
    return Finding(
        "out_of_range",
        ref_column.name,
        "out_of_range_share",
        share,
        params.max_out_of_range_share,
        alert,
        p_value=p_value,
        details={
            "reference_min": ref_column.minimum,
            "reference_max": ref_column.maximum,
            "below": cur_column.below_reference,
            "above": cur_column.above_reference,
        },
    )
