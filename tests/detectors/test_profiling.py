"""Profiles computed in DuckDB through Ibis agree with the same aggregates computed in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.profile import QUANTILE_LEVELS, WindowProfile
from detectors.profiling import ProfileOptions

from .conftest import frame, profiles


def test_numeric_aggregates_match_numpy(rng):
    values = rng.normal(5, 2, 3000)
    values[::10] = np.nan
    reference, current = profiles(frame({"x": values}), frame({"x": rng.normal(5, 2, 2000)}))
    column = reference.columns["x"]
    present = values[~np.isnan(values)]
    assert (column.rows, column.nulls, column.count) == (3000, 300, 2700)
    assert column.mean == pytest.approx(present.mean(), rel=1e-12)
    assert column.std == pytest.approx(present.std(ddof=1), rel=1e-9)
    assert (column.minimum, column.maximum) == (present.min(), present.max())
    assert column.quantiles == pytest.approx(np.quantile(present, QUANTILE_LEVELS), rel=1e-9)
    assert column.values is None  # more rows than the raw-value limit
    assert sum(column.histogram.counts) == column.count
    # Equal-frequency bins: each of the 20 holds about 5% of the reference.
    assert max(column.histogram.counts) / column.count == pytest.approx(0.05, abs=0.002)
    # The current window is cut on the reference's edges and counts every value once.
    assert current.columns["x"].histogram.edges == column.histogram.edges
    assert sum(current.columns["x"].histogram.counts) == current.columns["x"].count


def test_out_of_reference_range_counts(rng):
    _reference, current = profiles(
        frame({"x": rng.uniform(0, 1, 500)}), frame({"x": np.array([-1.0, 0.5, 2.0, 3.0])})
    )
    column = current.columns["x"]
    assert (column.below_reference, column.above_reference) == (1, 2)


def test_categories_top_k_plus_other(rng):
    labels = np.array([f"v{i:02d}" for i in range(30)])
    values = rng.choice(labels, 5000)
    reference, _ = profiles(
        frame({"c": values}), frame({"c": values[:100]}), ProfileOptions(top_k=10)
    )
    column = reference.columns["c"]
    counts = {label: int((values == label).sum()) for label in labels}
    top = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10])
    assert column.categories == top
    assert column.other_count == 5000 - sum(top.values())
    assert column.distinct == 30 and not column.categories_complete


def test_empty_window_profiles_to_zero_rows():
    _reference, current = profiles(
        frame({"x": np.arange(50.0)}), frame({"x": np.array([], dtype=float)})
    )
    assert (
        current.rows == 0
        and current.columns["x"].count == 0
        and current.columns["x"].quantiles is None
    )


def test_profiles_round_trip_through_json(rng):
    import json

    reference, current = profiles(
        frame({"x": rng.normal(0, 1, 100), "c": rng.choice(["a", "b"], 100)}),
        frame({"x": rng.normal(0, 1, 50), "c": rng.choice(["a", "b"], 50)}),
    )
    for profile in (reference, current):
        assert WindowProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_profile_of_another_schema_version_is_refused(rng):
    reference, _ = profiles(frame({"x": rng.normal(0, 1, 40)}), frame({"x": rng.normal(0, 1, 40)}))
    data = reference.to_dict()
    data["schema_version"] = 999
    with pytest.raises(ValueError, match="recompute"):
        WindowProfile.from_dict(data)


def test_sketched_quantiles_keep_wasserstein_within_the_stated_bound(rng):
    """Above `exact_quantile_rows` the engine's t-digest replaces exact quantiles; the
    normalised Wasserstein distance computed from them moves by less than 0.01 std."""
    from detectors.drift.registry import get_method

    reference_values = rng.lognormal(0, 0.6, 200_000)
    current_values = rng.lognormal(0.1, 0.6, 150_000)
    data = (frame({"x": reference_values}), frame({"x": current_values}))
    exact = profiles(*data, ProfileOptions(exact_quantile_rows=10**9))
    sketched = profiles(*data, ProfileOptions(exact_quantile_rows=1000))
    assert exact[1].columns["x"].quantiles == pytest.approx(
        np.quantile(current_values, QUANTILE_LEVELS), rel=1e-9
    )
    assert sketched[1].columns["x"].quantiles != exact[1].columns["x"].quantiles
    method = get_method("wasserstein")
    exact_w = method.score(exact[0].columns["x"], exact[1].columns["x"]).statistic
    sketched_w = method.score(sketched[0].columns["x"], sketched[1].columns["x"]).statistic
    assert abs(exact_w - sketched_w) < 0.01
