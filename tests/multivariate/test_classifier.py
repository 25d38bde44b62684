"""The domain classifier: quiet on clean samples, catches a broken relation, names it."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.multivariate.classifier import auc_threshold, classifier_test, encoded_matrix
from detectors.multivariate.params import MultivariateParams
from detectors.multivariate.sampling import sample_query
from detectors.results import Status

from .worlds import rows, source

NUMERIC = ["x0", "x1", "x2", "x3"]
CATEGORICAL = ["segment"]
LEVELS = [("a", "b", "c")]
PARAMS = MultivariateParams(method="domain_classifier", sample_size=2_000)


def _matrix(frame) -> np.ndarray:
    values = frame[NUMERIC + CATEGORICAL].astype(object).where(frame.notna(), None)
    return encoded_matrix(values.to_numpy().tolist(), len(NUMERIC), LEVELS)


def _test(reference, window, params: MultivariateParams = PARAMS):
    return classifier_test(
        _matrix(reference),
        _matrix(window),
        NUMERIC + CATEGORICAL,
        [False] * len(NUMERIC) + [True],
        params,
    )


def test_the_threshold_is_the_null_auc_of_one_fold():
    threshold, sd = auc_threshold(5_000, 5_000, 5, 0.01)
    assert sd == pytest.approx(np.sqrt((1000 + 1000 + 1) / (12 * 1000 * 1000)))
    assert threshold == pytest.approx(0.5 + 2.3263478740 * sd)


def test_clean_samples_stay_below_the_threshold():
    statistics = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        result = _test(rows(rng, 2_000), rows(rng, 2_000))
        assert result.status == Status.ok, result.message
        statistics.append(result.findings[0].statistic)
    print(f"null AUCs: {[round(s, 3) for s in statistics]}")
    assert max(statistics) < result.findings[0].threshold


def test_a_broken_correlation_is_caught_and_its_columns_named():
    rng = np.random.default_rng(42)
    result = _test(rows(rng, 2_000), rows(rng, 2_000, rho=0.2))
    assert result.status == Status.alert
    finding = result.findings[0]
    assert finding.pattern == "multivariate_drift" and finding.column is None
    assert finding.method == "domain_classifier"
    assert len(finding.details["fold_aucs"]) == PARAMS.folds
    named = [item["column"] for item in finding.details["top_features"][:2]]
    assert set(named) == {"x0", "x1"}


def test_too_few_rows_on_a_side_is_insufficient_data():
    rng = np.random.default_rng(0)
    result = _test(rows(rng, 2_000), rows(rng, 10))
    assert result.status == Status.insufficient_data
    assert "10 window rows" in result.message


def test_the_engine_sample_is_seeded_bounded_and_the_same_every_time():
    dataset = source(rows(np.random.default_rng(3), 5_000))

    def draw(seed: int) -> list[tuple]:
        return dataset.window_query(
            ("sample", seed),
            lambda window: sample_query(window, NUMERIC, CATEGORICAL, seed, 500),
            None,
            None,
        ).rows

    first = draw(1)
    assert len(first) == 500
    assert draw(1) == first
    assert draw(2) != first
    assert all(isinstance(row[4], str) for row in first)
