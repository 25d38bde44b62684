"""The PCA reconstruction test: a window's mean error against its calibrated threshold.

A window alerts when its mean reconstruction error is above the threshold of its size
(`threshold.window_threshold`: false alarms at the `significance` rate on data like the
reference) *and* at least `min_effect` above the reference's mean (relative), so a
10M-row window does not alert on a real but harmless change. A falling error (a column
stuck at its mean, correlations grown stronger) is reported but does not alert: the
per-column monitors see stuck columns.

The finding's `statistic` is the window's mean error, `threshold` the mean above which it
alerts; `details` say how the threshold was set and, when the window's per-input residuals
were measured, which columns' residuals grew most (`top_contributors`).
"""

from __future__ import annotations

import math

from detectors.multivariate.fitting import ErrorMoments
from detectors.multivariate.params import MultivariateParams
from detectors.multivariate.pca import PcaModel
from detectors.multivariate.threshold import window_threshold
from detectors.results import DetectorResult, Finding

METHOD = "pca_reconstruction"
#: Columns named as the main contributors to a raised error.
TOP_CONTRIBUTORS = 3


def detect_pca(model: PcaModel, window: ErrorMoments, params: MultivariateParams) -> DetectorResult:
    calibration = model.calibration
    if calibration is None:
        raise ValueError("the model is not calibrated")
    if window.rows < params.min_rows or window.mean is None:
        return DetectorResult.insufficient(
            f"the window has {window.rows} rows; the multivariate test needs {params.min_rows}",
            {"rows": window.rows},
        )
    limit = window_threshold(
        mean=calibration.mean,
        std=math.sqrt(calibration.variance),
        calibration_rows=calibration.rows,
        window_rows=window.rows,
        significance=params.significance,
    )
    increase = window.mean / calibration.mean - 1
    alert = window.mean > limit.value and increase >= params.min_effect
    details = {
        "threshold_basis": limit.basis,
        "reference_mean": calibration.mean,
        "reference_std": math.sqrt(calibration.variance),
        "calibration_rows": calibration.rows,
        "window_rows": window.rows,
        "relative_increase": increase,
        "min_effect": params.min_effect,
        "significance": params.significance,
        "components": model.kept,
        "inputs": len(model.encoding.inputs),
        "explained_share": model.explained_share,
        "columns": list(model.encoding.columns),
    }
    if window.residuals and calibration.residuals:
        details["top_contributors"] = contributors(model, window.residuals)
    finding = Finding(
        "multivariate_drift",
        None,
        METHOD,
        window.mean,
        limit.value,
        alert,
        p_value=limit.p_value(window.mean),
        details=details,
    )
    verdict = "above" if alert else "within"
    return DetectorResult.from_findings(
        [finding],
        message=(
            f"mean reconstruction error {window.mean:.4g} ({increase:+.1%} on the reference) "
            f"is {verdict} the threshold {limit.value:.4g}"
        ),
        summary={"components": model.kept, "inputs": len(model.encoding.inputs)},
    )


def contributors(model: PcaModel, window_residuals: tuple[float, ...]) -> list[dict[str, object]]:
    """The columns whose mean squared residual (summed over the column's inputs) grew most
    over the reference's, in absolute terms: a column whose residual was nil and stays
    near nil has a large ratio of two rounding errors. At most `TOP_CONTRIBUTORS`."""
    assert model.calibration is not None
    reference: dict[str, float] = {}
    current: dict[str, float] = {}
    for item, before, now in zip(
        model.encoding.inputs, model.calibration.residuals, window_residuals, strict=True
    ):
        reference[item.column] = reference.get(item.column, 0.0) + before
        current[item.column] = current.get(item.column, 0.0) + now
    growing = sorted(
        (column for column in reference if 0 < reference[column] < current[column]),
        key=lambda column: reference[column] - current[column],
    )
    ratios: list[dict[str, object]] = [
        {
            "column": column,
            "residual_ratio": current[column] / reference[column],
            "reference_residual": reference[column],
            "window_residual": current[column],
        }
        for column in growing
    ]
    return ratios[:TOP_CONTRIBUTORS]
