"""The PCA reconstruction test's statistics against known answers: the threshold against
scipy's gamma and normal distributions, the engine's fit and error against numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from detectors.multivariate.encoding import Encoding
from detectors.multivariate.fitting import fit_pca, window_error
from detectors.multivariate.pca import PcaModel
from detectors.multivariate.threshold import window_threshold

from .worlds import COLUMNS, encoding_of, rows, source


def test_the_threshold_is_the_gamma_quantile_and_tends_to_the_normal_one():
    mean, std, calibration = 0.2, 0.28, 100_000_000  # >= 10 x every window: no margin
    for window_rows in (20, 50, 5_000, 500_000):
        limit = window_threshold(
            mean=mean,
            std=std,
            calibration_rows=calibration,
            window_rows=window_rows,
            significance=0.01,
        )
        se = std * math.sqrt(1 / window_rows + 1 / calibration)
        gamma = stats.gamma(a=(mean / se) ** 2, scale=se**2 / mean)
        assert limit.value == pytest.approx(gamma.ppf(0.99), rel=1e-9)
        assert limit.p_value(limit.value) == pytest.approx(0.01, rel=1e-6)
        observed = mean + 1.5 * se
        assert limit.p_value(observed) == pytest.approx(gamma.sf(observed), rel=1e-9)
    normal = mean + stats.norm.ppf(0.99) * std * math.sqrt(1 / 500_000 + 1 / calibration)
    assert limit.value == pytest.approx(normal, rel=1e-4)
    # Skewed small windows: the gamma quantile is above the normal one.
    small = window_threshold(
        mean=mean, std=std, calibration_rows=calibration, window_rows=20, significance=0.01
    )
    assert small.value > mean + stats.norm.ppf(0.99) * std * math.sqrt(1 / 20 + 1 / calibration)


def test_a_small_calibration_widens_the_threshold_by_its_own_error():
    wide = window_threshold(
        mean=1.0, std=1.0, calibration_rows=20_000, window_rows=5_000, significance=0.01
    )
    assert wide.margin == pytest.approx(stats.norm.ppf(0.9) / math.sqrt(20_000))
    assert "widened" in wide.basis
    assert wide.p_value(wide.value) == pytest.approx(0.01, rel=1e-6)


def _numpy_inputs(frame: pd.DataFrame, encoding: Encoding, clip: float) -> np.ndarray:
    """The standardised inputs as the module docstring of `encoding` defines them."""
    columns = []
    for item in encoding.inputs:
        values = frame[item.column]
        if item.kind == "numeric":
            raw = values.astype(float).fillna(item.center).to_numpy()
        elif item.kind == "level":
            raw = (values == item.level).fillna(False).to_numpy(dtype=float)
        else:
            raw = (~values.isin(item.levels) | values.isna()).to_numpy(dtype=float)
        columns.append(np.clip((raw - item.center) / item.scale, -clip, clip))
    return np.column_stack(columns)


def test_the_engine_fit_and_error_equal_numpy_with_nulls_and_unseen_levels():
    rng = np.random.default_rng(7)
    reference = rows(rng, 40_000)
    dataset = source(reference)
    encoding = encoding_of(dataset)
    model = fit_pca(
        dataset, None, None, encoding, variance_share=0.9, clip=10.0, seed=3, min_rows=1000
    )
    assert model.calibration is not None
    # The fit half and the calibration half are disjoint and cover the reference.
    assert model.fit_rows + model.calibration.rows == len(reference)
    assert 0.45 < model.fit_rows / len(reference) < 0.55
    # The reference's error, over all its rows, as numpy computes it from the same model.
    z_reference = _numpy_inputs(reference, encoding, 10.0)
    errors = np.einsum("ij,jk,ik->i", z_reference, model.residual_matrix(), z_reference)
    assert model.calibration.mean == pytest.approx(errors.mean(), rel=0.05)
    # A window with nulls, an unseen level, a null level and an absurd value (clipped).
    window = rows(rng, 3_000)
    window.loc[::7, "x0"] = None
    window.loc[::11, "segment"] = "zzz"
    window.loc[::13, "segment"] = None
    window.loc[5, "x3"] = 1e9
    measured = window_error(source(window), None, None, model, 10.0, residuals=True)
    z = _numpy_inputs(window, encoding, 10.0)
    matrix = model.residual_matrix()
    expected = np.einsum("ij,jk,ik->i", z, matrix, z)
    assert measured.rows == len(window)
    assert measured.mean == pytest.approx(expected.mean(), rel=1e-9)
    assert measured.variance == pytest.approx(expected.var(ddof=1), rel=1e-9)
    residuals = (z @ matrix.T) ** 2
    assert measured.residuals == pytest.approx(tuple(residuals.mean(axis=0)), rel=1e-9)


def test_the_components_match_numpys_on_the_whole_reference_up_to_sampling_noise():
    rng = np.random.default_rng(11)
    frame = rows(rng, 20_000)
    dataset = source(frame)
    encoding = encoding_of(dataset, ["x0", "x1", "x2", "x3"])
    model = fit_pca(
        dataset, None, None, encoding, variance_share=0.4, clip=10.0, seed=0, min_rows=1000
    )
    z = _numpy_inputs(frame, encoding, 10.0)
    eigenvalues, vectors = np.linalg.eigh(np.cov(z, rowvar=False))
    top = vectors[:, np.argmax(eigenvalues)]
    # The fit half holds 10,000 of the 20,000 rows: equal up to that sample's noise.
    assert model.eigenvalues == pytest.approx(sorted(eigenvalues, reverse=True), abs=0.05)
    assert model.kept == 1  # x0-x1 (rho 0.8): 1.8 of a trace of 4
    assert np.abs(np.array(model.components[0])) == pytest.approx(np.abs(top), abs=0.02)
    # The stored record reads back as the same model.
    assert PcaModel.from_dict(model.to_dict()) == model


def test_columns_are_refused_when_constant_or_all_null():
    from detectors.multivariate.encoding import EncodingError, encode_columns
    from detectors.profile import ColumnProfile

    constant = ColumnProfile("k", "numeric", "float64", rows=10, nulls=0, mean=1.0, std=0.0)
    empty = ColumnProfile("e", "numeric", "float64", rows=10, nulls=10)
    single = ColumnProfile(
        "s", "categorical", "string", rows=10, nulls=0, categories={"a": 10}, other_count=0
    )
    for profile in (constant, empty, single):
        with pytest.raises(EncodingError, match=repr(profile.name)):
            encode_columns({profile.name: profile}, max_categories=20)
    assert COLUMNS  # the worlds' columns are what the other tests encode
