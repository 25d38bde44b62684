"""The PCA test's false alarms on clean windows, and the changes it must catch.

The level is one-sided 1% per scan. A count of alarms over 200 clean windows is
binomial(200, 0.01): mean 2, and P(count >= 6) is 1.6%, so the fixed-seed test allows 5;
a slow test pools 10 references x 200 windows and holds the rate at 1.5%.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from detectors.drift.detector import detect_drift
from detectors.multivariate.fitting import fit_pca, window_error
from detectors.multivariate.params import MultivariateParams
from detectors.multivariate.pca import PcaModel
from detectors.multivariate.pca_detector import detect_pca
from detectors.results import Status
from detectors.sources.base import DatasetSource

from .worlds import START, encoding_of, rows, source

PARAMS = MultivariateParams()
#: The threshold alone: the default 10% effect floor would hide its false-alarm rate (a
#: clean 5,000-row window's mean error is within 2% of the reference's).
THRESHOLD_ONLY = MultivariateParams(min_effect=0.0)
STEP = timedelta(seconds=1)


def _world(
    seed: int,
    reference_rows: int,
    windows: int,
    window_rows: int,
    reference_shape: dict[str, object] | None = None,
    **drift: object,
) -> tuple[DatasetSource, PcaModel, list[tuple[object, object]]]:
    """A dataset holding a reference (shaped by `reference_shape`) and then `windows`
    windows (drifted by `drift`), the model fitted on the reference, and each window's
    bounds."""
    rng = np.random.default_rng(seed)
    reference = rows(rng, reference_rows, **(reference_shape or {}))  # type: ignore[arg-type]
    first = START + reference_rows * STEP
    parts = [reference]
    bounds = []
    for index in range(windows):
        start = first + index * window_rows * STEP
        parts.append(rows(rng, window_rows, start=start, **drift))  # type: ignore[arg-type]
        bounds.append((start, start + window_rows * STEP))
    dataset = source(pd.concat(parts, ignore_index=True))
    encoding = encoding_of(source(reference))
    model = fit_pca(
        dataset, START, first, encoding, variance_share=0.9, clip=10.0, seed=seed, min_rows=1000
    )
    return dataset, model, bounds


def _alarms(
    dataset: DatasetSource,
    model: PcaModel,
    bounds: list,
    params: MultivariateParams = THRESHOLD_ONLY,
) -> int:
    alarms = 0
    for start, end in bounds:
        result = detect_pca(model, window_error(dataset, start, end, model, 10.0), params)
        assert result.status in (Status.ok, Status.alert)
        alarms += result.status == Status.alert
    return alarms


def test_two_hundred_clean_windows_raise_at_most_five_alarms_at_the_one_percent_level():
    dataset, model, bounds = _world(seed=1, reference_rows=100_000, windows=200, window_rows=5_000)
    alarms = _alarms(dataset, model, bounds)
    print(f"PCA false alarms: {alarms} of 200 clean windows (level 1%, no effect floor)")
    assert alarms <= 5
    assert _alarms(dataset, model, bounds, PARAMS) == 0  # and none with the default floor


@pytest.mark.parametrize("rho", [0.2, 0.7])
def test_a_correlation_change_with_unchanged_marginals_is_caught_every_time(rho: float):
    dataset, model, bounds = _world(
        seed=2, reference_rows=100_000, windows=20, window_rows=5_000, rho=rho
    )
    if rho == 0.7:
        # A subtle change: significant always, but under the default 10% effect floor.
        subtle = [
            detect_pca(model, window_error(dataset, s, e, model, 10.0), PARAMS) for s, e in bounds
        ]
        assert all(r.findings[0].p_value < 0.01 for r in subtle)
        relaxed = MultivariateParams(min_effect=0.0)
        caught = sum(
            bool(detect_pca(model, window_error(dataset, s, e, model, 10.0), relaxed).alerts)
            for s, e in bounds
        )
    else:
        caught = _alarms(dataset, model, bounds, PARAMS)
    assert caught == len(bounds)


def test_univariate_drift_stays_quiet_where_the_multivariate_test_alerts():
    """Why the monitor exists: the marginals are unchanged, only the relation moved."""
    dataset, model, bounds = _world(
        seed=3, reference_rows=50_000, windows=1, window_rows=5_000, rho=0.2
    )
    start, end = bounds[0]
    result = detect_pca(
        model, window_error(dataset, start, end, model, 10.0, residuals=True), PARAMS
    )
    assert result.status == Status.alert
    named = {item["column"] for item in result.findings[0].details["top_contributors"][:2]}
    assert named == {"x0", "x1"}
    columns = ["x0", "x1", "x2", "x3", "segment"]
    reference_profile = dataset.profile(START, start, columns)
    window_profile = dataset.profile(start, end, columns, reference=reference_profile)
    univariate = detect_drift(reference_profile, window_profile)
    assert univariate.status == Status.ok, univariate.alerts


def test_a_broken_association_between_a_category_and_a_number_is_caught():
    """In the reference the segment follows x0 (its top half is 'a'); in the windows the
    segment is drawn independently, with the same shares. (The reverse, an association
    appearing between columns that were independent, mostly lands in the components PCA
    keeps: this method, like NannyML's, sees relations that break, not new ones.)"""
    dataset, model, bounds = _world(
        seed=4,
        reference_rows=50_000,
        windows=5,
        window_rows=5_000,
        reference_shape={"segment_follows_x0": True},
    )
    assert _alarms(dataset, model, bounds, PARAMS) == 5


def test_small_windows_keep_the_level_thanks_to_the_gamma_quantile():
    """At 20 rows the error's skew matters: a normal quantile alarms about twice as often."""
    dataset, model, bounds = _world(seed=5, reference_rows=100_000, windows=400, window_rows=20)
    small = MultivariateParams(min_rows=20, min_effect=0.0)
    alarms = sum(
        detect_pca(model, window_error(dataset, s, e, model, 10.0), small).status == Status.alert
        for s, e in bounds
    )
    print(f"PCA false alarms at 20 rows: {alarms} of 400")
    assert alarms <= 9  # binomial(400, 0.01): mean 4, P(>= 10) = 0.8%


def test_a_window_below_min_rows_is_insufficient_data():
    dataset, model, _bounds = _world(seed=6, reference_rows=20_000, windows=0, window_rows=1)
    one_row = source(rows(np.random.default_rng(0), 1))
    result = detect_pca(model, window_error(one_row, None, None, model, 10.0), PARAMS)
    assert result.status == Status.insufficient_data
    assert "1 rows" in result.message
    empty = detect_pca(model, window_error(dataset, START - STEP, START, model, 10.0), PARAMS)
    assert empty.status == Status.insufficient_data


@pytest.mark.slow
def test_ten_references_pooled_hold_the_false_alarm_rate_at_one_and_a_half_percent():
    alarms = 0
    for seed in range(10, 20):
        dataset, model, bounds = _world(
            seed=seed, reference_rows=100_000, windows=200, window_rows=5_000
        )
        alarms += _alarms(dataset, model, bounds)
    print(f"PCA false alarms pooled: {alarms} of 2000 clean windows")
    assert alarms / 2000 <= 0.015
