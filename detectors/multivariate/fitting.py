"""Fit and calibrate a PCA model on a reference window, and measure a window's error,
each in one engine query over a `DatasetSource` (the queries: `engine_queries`).

The fit part and the calibration part of the reference are the rows of a seeded hash split
(`engine_queries.split_bucket`, half each), so the calibration measures the error of rows
the model never saw. Both are computed over every reference row, so neither depends on a
sample's luck: the threshold's false-alarm rate holds for each reference, not only on
average over references.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from detectors.multivariate.encoding import Encoding
from detectors.multivariate.engine_queries import (
    cross_moments,
    error_moments,
    fit_part,
    moments_from_row,
)
from detectors.multivariate.pca import Calibration, PcaModel, fit_model
from detectors.sources.base import DatasetSource


class NotEnoughRows(ValueError):
    """Too few rows to fit, calibrate or test (an `insufficient_data` result)."""


@dataclass(frozen=True)
class ErrorMoments:
    """A window's reconstruction error: `rows`, `mean`, sample `variance`, and each input's
    mean squared residual when asked for."""

    rows: int
    mean: float | None
    variance: float | None
    residuals: tuple[float, ...] = ()


def model_digest(model: PcaModel | Encoding, *extra: Any) -> str:
    """16 hex digits naming a model (or an encoding) and the settings its queries use."""
    data = model.to_dict()
    if isinstance(model, PcaModel):
        data = {key: value for key, value in data.items() if key != "calibration"}
    payload = json.dumps([data, *extra], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def fit_pca(
    source: DatasetSource,
    start: datetime | None,
    end: datetime | None,
    encoding: Encoding,
    *,
    variance_share: float,
    clip: float,
    seed: int,
    min_rows: int,
) -> PcaModel:
    """The model fitted on the seeded half of [start, end) and calibrated on the rest."""
    columns = list(encoding.columns)
    inputs = len(encoding.inputs)
    fit_key = ("multivariate_fit", model_digest(encoding, clip, seed))
    row = source.window_query(
        fit_key,
        lambda window: cross_moments(fit_part(window, columns, seed, fit=True), encoding, clip),
        start,
        end,
    ).first()
    rows, means, second = moments_from_row(row, inputs)
    needed = max(min_rows // 2, 2 * inputs)
    if rows < needed:
        raise NotEnoughRows(
            f"the reference's fit half has {rows} rows; {needed} are needed for "
            f"{inputs} encoded inputs"
        )
    model = fit_model(
        encoding,
        rows=rows,
        means=means,
        second_moments=second,
        variance_share=variance_share,
        seed=seed,
    )
    calibration = window_error(source, start, end, model, clip, residuals=True, fit=False)
    if calibration.rows < needed or not calibration.mean or not calibration.variance:
        raise NotEnoughRows(
            f"the reference's calibration half has {calibration.rows} rows with a "
            "reconstruction error that does not vary; it cannot set a threshold"
        )
    return replace(
        model,
        calibration=Calibration(
            calibration.rows, calibration.mean, calibration.variance, calibration.residuals
        ),
    )


def window_error(
    source: DatasetSource,
    start: datetime | None,
    end: datetime | None,
    model: PcaModel,
    clip: float,
    *,
    residuals: bool = False,
    fit: bool | None = None,
) -> ErrorMoments:
    """The reconstruction error over [start, end) (its calibration half when `fit` is
    False), with each input's mean squared residual when `residuals`."""
    matrix = model.residual_matrix()
    encoding = model.encoding
    columns = list(encoding.columns)

    def build(window: Any) -> Any:
        rows = window if fit is None else fit_part(window, columns, model.seed, fit=fit)
        return error_moments(rows, encoding, matrix, clip, residuals=residuals)

    key = ("multivariate_error", model_digest(model, clip), residuals, fit)
    row = source.window_query(key, build, start, end).first()
    inputs = len(encoding.inputs)
    return ErrorMoments(
        rows=int(row.get("n") or 0),
        mean=_float(row.get("mean")),
        variance=_float(row.get("variance")),
        residuals=tuple(float(row.get(f"r{j}") or 0.0) for j in range(inputs)) if residuals else (),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
