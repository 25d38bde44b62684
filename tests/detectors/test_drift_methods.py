"""Every registered drift method through the same checks, then golden values against scipy."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from detectors.drift.base import DriftMethod, MethodNotApplicable
from detectors.drift.detector import detect_drift
from detectors.drift.params import RegisteredMethod
from detectors.drift.registry import METHODS, get_method
from detectors.profile import ColumnProfile
from detectors.profiling import ProfileOptions

from .conftest import frame, profiles

ALL = sorted(METHODS)


def _numeric_pair(rng, shift: float, n: int = 600):
    ref, cur = profiles(frame({"x": rng.normal(0, 1, n)}), frame({"x": rng.normal(shift, 1, n)}))
    return ref.columns["x"], cur.columns["x"]


def _categorical_pair(rng, drifted_shares: list[float] | None, n: int = 600):
    """Categories drawn uniformly in the reference; uniformly again, or with the given
    shares, in the current window. The number of shares is the number of categories."""
    labels = ["a", "b", "c"][: len(drifted_shares or [0, 0, 0])]
    uniform = [1 / len(labels)] * len(labels)
    ref, cur = profiles(
        frame({"c": rng.choice(labels, n, p=uniform)}),
        frame({"c": rng.choice(labels, n, p=drifted_shares or uniform)}),
    )
    return ref.columns["c"], cur.columns["c"]


#: Methods that only take binary columns get a two-category case.
BINARY_ONLY = {"z_test"}


def _pair_for(method: DriftMethod, rng, drifted: bool):
    # Each method at the sample size the auto rule gives it: exact tests on small windows,
    # distances on large ones (a distance's null spread shrinks only as 1/sqrt(n)).
    n = 600 if method.is_test else 5000
    if "numeric" in method.kinds:
        return _numeric_pair(rng, 1.5 if drifted else 0.0, n)
    if method.name in BINARY_ONLY:
        return _categorical_pair(rng, [0.75, 0.25] if drifted else [0.5, 0.5], n)
    return _categorical_pair(rng, [0.8, 0.1, 0.1] if drifted else [1 / 3] * 3, n)


@pytest.mark.parametrize("name", ALL)
def test_contract_registered_under_its_name_with_documented_units(name: str):
    method = METHODS[name]
    assert method.name == name and get_method(name) is method
    doc = inspect.getdoc(inspect.getmodule(type(method)))
    assert doc and "threshold" in doc and ">>>" in doc, (
        "each method documents its threshold with an example"
    )
    assert set(method.kinds) <= {"numeric", "categorical"}
    assert 0 < method.default_threshold < 1


@pytest.mark.parametrize("name", ALL)
def test_contract_deterministic(name: str, rng):
    method = METHODS[name]
    pair = _pair_for(method, rng, drifted=True)
    assert method.score(*pair) == method.score(*pair)


def _alerts(method: DriftMethod, score) -> bool:
    if method.is_test:
        return score.p_value < method.default_threshold
    return score.statistic >= method.default_threshold


@pytest.mark.parametrize("name", ALL)
def test_contract_rarely_alerts_on_clean_data_and_always_on_drift(name: str):
    """40 seeded clean pairs: 5% false alarms expected for tests, ~0 for distances at their
    sample size. The bound is the count a calibrated 5% test exceeds in only 1% of seed sets.
    10 seeded drifted pairs: all detected."""
    method = METHODS[name]
    false_alarms = sum(
        _alerts(method, method.score(*_pair_for(method, np.random.default_rng(seed), False)))
        for seed in range(40)
    )
    assert false_alarms <= stats.binom.ppf(0.99, 40, 0.05)
    for seed in range(10):
        clean = method.score(*_pair_for(method, np.random.default_rng(1000 + seed), False))
        drifted = method.score(*_pair_for(method, np.random.default_rng(1000 + seed), True))
        assert _alerts(method, drifted)
        assert 0 <= clean.effect < drifted.effect <= 1


@pytest.mark.parametrize("name", ALL)
def test_contract_rejects_columns_of_the_wrong_kind(name: str):
    method = METHODS[name]
    wrong = ColumnProfile("when", "datetime", "timestamp", 10, 0)
    with pytest.raises(MethodNotApplicable):
        method.score(wrong, wrong)


def test_config_literal_lists_exactly_the_registered_methods():
    assert set(typing.get_args(RegisteredMethod)) == set(METHODS)


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match="known: chi_square, jensen_shannon, ks, psi, wasserstein"):
        get_method("magic")


def test_ks_matches_scipy_exactly_on_small_samples(rng):
    reference, current = rng.normal(0, 1, 400), rng.normal(0.2, 1.1, 300)
    ref, cur = profiles(frame({"x": reference}), frame({"x": current}))
    score = get_method("ks").score(ref.columns["x"], cur.columns["x"])
    expected = stats.ks_2samp(reference, current)
    assert score.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert score.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_ks_from_histograms_never_overstates_d_and_stays_close(rng):
    reference, current = rng.normal(0, 1, 5000), rng.normal(0.3, 1, 5000)
    ref, cur = profiles(
        frame({"x": reference}),
        frame({"x": current}),
        ProfileOptions(raw_value_limit=10, histogram_bins=50),
    )
    assert ref.columns["x"].values is None  # large windows ship no raw values
    approximate = get_method("ks").score(ref.columns["x"], cur.columns["x"]).statistic
    exact = stats.ks_2samp(reference, current).statistic
    # D read at 49 reference-quantile edges: a lower bound, within one bin's mass (2%) of exact.
    assert exact - 0.02 <= approximate <= exact + 1e-12


def test_chi_square_matches_scipy_contingency(rng):
    reference = rng.choice(["a", "b", "c", "d"], 500, p=[0.4, 0.3, 0.2, 0.1])
    current = rng.choice(["a", "b", "c", "d"], 400, p=[0.3, 0.3, 0.3, 0.1])
    ref, cur = profiles(frame({"c": reference}), frame({"c": current}))
    score = get_method("chi_square").score(ref.columns["c"], cur.columns["c"])
    table = np.array(
        [[np.sum(reference == v) for v in "abcd"], [np.sum(current == v) for v in "abcd"]]
    )
    expected = stats.chi2_contingency(table, correction=False)
    assert score.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert score.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_wasserstein_exact_on_raw_values_and_bounded_from_quantiles(rng):
    reference, current = rng.normal(0, 2, 800), rng.normal(0.5, 2, 700)
    ref, cur = profiles(frame({"x": reference}), frame({"x": current}))
    exact = get_method("wasserstein").score(ref.columns["x"], cur.columns["x"]).statistic
    assert exact == pytest.approx(
        stats.wasserstein_distance(reference, current) / np.std(reference, ddof=1), rel=1e-9
    )

    big_ref, big_cur = rng.normal(0, 2, 50_000), rng.normal(0.5, 2, 50_000)
    ref, cur = profiles(frame({"x": big_ref}), frame({"x": big_cur}))
    approximate = get_method("wasserstein").score(ref.columns["x"], cur.columns["x"]).statistic
    truth = stats.wasserstein_distance(big_ref, big_cur) / np.std(big_ref, ddof=1)
    # Stated bound for 101 quantiles: within 0.02 reference standard deviations.
    assert abs(approximate - truth) < 0.02


def test_wasserstein_effect_is_capped_at_1_and_the_finding_keeps_the_distance(rng):
    """A shift of 1.5 reference stds: the finding's statistic is the distance itself, its
    `details.effect` the capped 1.0 every method's effect scale ends at; it alerts."""
    ref, cur = profiles(
        frame({"x": rng.normal(0, 1, 5000)}), frame({"x": rng.normal(1.5, 1, 5000)})
    )
    (finding,) = detect_drift(ref, cur).findings
    assert finding.method == "wasserstein" and finding.alert
    assert finding.statistic == pytest.approx(1.5, abs=0.05)
    assert finding.details["effect"] == 1.0


def test_jensen_shannon_matches_scipy_on_category_shares(rng):
    reference = rng.choice(["a", "b", "c"], 900, p=[0.5, 0.3, 0.2])
    current = rng.choice(["a", "b", "c"], 900, p=[0.3, 0.3, 0.4])
    ref, cur = profiles(frame({"c": reference}), frame({"c": current}))
    score = get_method("jensen_shannon").score(ref.columns["c"], cur.columns["c"])
    p = np.array([np.mean(reference == v) for v in "abc"])
    q = np.array([np.mean(current == v) for v in "abc"])
    assert score.statistic == pytest.approx(distance.jensenshannon(p, q), rel=1e-9)


def test_psi_matches_its_formula_on_categories(rng):
    reference = rng.choice(["a", "b"], 1000, p=[0.5, 0.5])
    current = rng.choice(["a", "b"], 1000, p=[0.7, 0.3])
    ref, cur = profiles(frame({"c": reference}), frame({"c": current}))
    score = get_method("psi").score(ref.columns["c"], cur.columns["c"])
    r = np.array([np.mean(reference == v) for v in "ab"])
    c = np.array([np.mean(current == v) for v in "ab"])
    assert score.statistic == pytest.approx(np.sum((c - r) * np.log(c / r)), rel=1e-9)


@pytest.mark.parametrize("name", ["ks", "chi_square"])
def test_hypothesis_tests_are_calibrated_under_the_null(name: str):
    """1,000 clean draws: the alarm rate at p < 0.05 lies inside the binomial 99.9% interval."""
    method = METHODS[name]
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(1000):
        if name == "ks":
            ref = ColumnProfile(
                "x", "numeric", "double", 300, 0, values=tuple(rng.normal(0, 1, 300))
            )
            cur = ColumnProfile(
                "x", "numeric", "double", 200, 0, values=tuple(rng.normal(0, 1, 200))
            )
        else:
            ref_values, cur_values = rng.choice(list("abcd"), 500), rng.choice(list("abcd"), 400)
            ref = ColumnProfile(
                "c",
                "categorical",
                "string",
                500,
                0,
                categories={k: int((ref_values == k).sum()) for k in "abcd"},
                other_count=0,
            )
            cur = ColumnProfile(
                "c",
                "categorical",
                "string",
                400,
                0,
                categories={k: int((cur_values == k).sum()) for k in "abcd"},
                other_count=0,
            )
        alarms += method.score(ref, cur).p_value < 0.05
    low, high = stats.binom.interval(0.999, 1000, 0.05)
    assert low <= alarms <= high


def test_z_test_matches_statsmodels(rng):
    from statsmodels.stats.proportion import proportions_ztest

    reference = rng.choice(["no", "yes"], 600, p=[0.7, 0.3])
    current = rng.choice(["no", "yes"], 500, p=[0.62, 0.38])
    ref, cur = profiles(frame({"c": reference}), frame({"c": current}))
    score = get_method("z_test").score(ref.columns["c"], cur.columns["c"])
    counts = np.array([np.sum(reference == "no"), np.sum(current == "no")])
    z, p = proportions_ztest(counts, np.array([600, 500]))
    assert score.statistic == pytest.approx(z, rel=1e-9)
    assert score.p_value == pytest.approx(p, rel=1e-9)


def test_z_test_refuses_more_than_two_categories(rng):
    ref, cur = profiles(
        frame({"c": rng.choice(list("abc"), 100)}), frame({"c": rng.choice(list("abc"), 100)})
    )
    with pytest.raises(MethodNotApplicable, match="binary"):
        get_method("z_test").score(ref.columns["c"], cur.columns["c"])
