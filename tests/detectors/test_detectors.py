"""The drift, quality and freshness detectors on seeded data with injected faults, and on
clean data where nothing may alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from detectors.drift.detector import detect_drift
from detectors.drift.params import DriftParams
from detectors.freshness.detector import detect_freshness
from detectors.freshness.params import FreshnessParams
from detectors.quality.checks import detect_quality
from detectors.quality.params import QualityParams
from detectors.results import Status
from detectors.timeline import Timeline

from .conftest import frame, profiles


def _columns(rng, n, *, shift=0.0, scale=1.0, shares=(0.25, 0.25, 0.25, 0.25), nulls=0.0):
    x = rng.normal(shift, scale, n)
    x[rng.random(n) < nulls] = np.nan
    return {
        "x": x,
        "y": rng.normal(0, 1, n),
        "c": rng.choice(list("abcd"), n, p=list(shares)),
        "label": rng.choice(["0", "1"], n),
    }


def test_clean_windows_raise_nothing(rng):
    ref, cur = profiles(frame(_columns(rng, 5000)), frame(_columns(rng, 5000)))
    assert detect_drift(ref, cur).status == Status.ok
    assert detect_quality(ref, cur).status == Status.ok


@pytest.mark.parametrize(
    ("fault", "column", "pattern"),
    [
        ({"shift": 0.5}, "x", "feature_drift"),
        ({"scale": 1.6}, "x", "feature_drift"),
        ({"shares": (0.55, 0.15, 0.15, 0.15)}, "c", "feature_drift"),
    ],
)
def test_injected_drift_is_found_on_the_right_column(rng, fault, column, pattern):
    ref, cur = profiles(frame(_columns(rng, 5000)), frame(_columns(rng, 5000, **fault)))
    result = detect_drift(ref, cur)
    assert result.status == Status.alert
    assert [(f.column, f.pattern) for f in result.alerts] == [(column, pattern)]
    assert result.summary["columns_drifted"] == 1 and result.summary["columns_tested"] == 4


def test_roles_name_the_pattern(rng):
    reference = _columns(rng, 3000)
    current = _columns(rng, 3000)
    current["label"] = rng.choice(["0", "1"], 3000, p=[0.8, 0.2])
    ref, cur = profiles(frame(reference), frame(current))
    result = detect_drift(ref, cur, roles={"label": "label", "prediction": "x"})
    assert [(f.column, f.pattern) for f in result.alerts] == [("label", "label_drift")]


def test_a_third_value_in_a_binary_column_is_scored_not_skipped(rng):
    # A yes/no reference picks z_test, which takes two values only; with a new value in the
    # current window the column must be compared by chi-square and the new value reported.
    reference = rng.choice(["no", "yes"], 800, p=[0.6, 0.4])
    current = np.where(rng.random(800) < 0.1, "maybe", rng.choice(["no", "yes"], 800, p=[0.6, 0.4]))
    ref, cur = profiles(frame({"c": reference}), frame({"c": current}))
    result = detect_drift(ref, cur)
    assert result.summary["skipped"] == {}
    drift = next(f for f in result.findings if f.pattern == "feature_drift")
    assert drift.method == "chi_square" and drift.alert
    emergence = [f for f in result.alerts if f.pattern == "category_emergence"]
    assert emergence[0].details["new_categories"] == {"maybe": int((current == "maybe").sum())}
    # Still binary in both windows: still z_test.
    same = profiles(frame({"c": reference}), frame({"c": rng.choice(["no", "yes"], 800)}))
    assert next(f for f in detect_drift(*same).findings).method == "z_test"


def test_new_category_is_category_emergence(rng):
    reference = _columns(rng, 3000)
    current = _columns(rng, 3000)
    current["c"] = np.where(rng.random(3000) < 0.05, "brand-new", current["c"])
    ref, cur = profiles(frame(reference), frame(current))
    emergence = [f for f in detect_drift(ref, cur).alerts if f.pattern == "category_emergence"]
    assert len(emergence) == 1 and emergence[0].column == "c"
    assert emergence[0].details["new_categories"] == {
        "brand-new": int((current["c"] == "brand-new").sum())
    }


def test_benjamini_hochberg_adjusts_small_sample_p_values(rng):
    ref, cur = profiles(frame(_columns(rng, 400)), frame(_columns(rng, 400, shift=0.4)))
    bh = detect_drift(ref, cur, DriftParams(correction="bh"))
    none = detect_drift(ref, cur, DriftParams(correction="none"))
    for adjusted, raw in zip(bh.findings, none.findings, strict=True):
        assert adjusted.method in ("ks", "chi_square", "z_test")  # small samples: exact tests
        assert adjusted.p_value >= raw.p_value
    assert ("x", "feature_drift") in [(f.column, f.pattern) for f in bh.alerts]


def test_effect_size_floor_silences_trivial_differences_on_huge_samples(rng):
    """With 200k rows a 0.03-std shift is 'significant' for KS but practically nothing."""
    ref, cur = profiles(
        frame({"x": rng.normal(0, 1, 200_000)}), frame({"x": rng.normal(0.03, 1, 200_000)})
    )
    forced_ks = detect_drift(ref, cur, DriftParams(method="ks", min_effect=0.0))
    floored = detect_drift(ref, cur, DriftParams(method="ks", min_effect=0.05))
    assert forced_ks.findings[0].p_value < 0.05 and forced_ks.status == Status.alert
    assert floored.status == Status.ok


def test_too_few_rows_is_insufficient_data_not_a_verdict(rng):
    ref, cur = profiles(frame(_columns(rng, 1000)), frame(_columns(rng, 10)))
    assert detect_drift(ref, cur).status == Status.insufficient_data
    assert detect_quality(ref, cur).status == Status.insufficient_data


def test_null_spike_and_out_of_range_are_found(rng):
    reference = _columns(rng, 4000, nulls=0.01)
    current = _columns(rng, 2000, nulls=0.2)
    current["y"] = np.concatenate([current["y"][:1900], np.full(100, 50.0)])
    ref, cur = profiles(frame(reference), frame(current))
    result = detect_quality(ref, cur)
    assert sorted((f.pattern, f.column) for f in result.alerts) == [
        ("null_spike", "x"),
        ("out_of_range", "y"),
    ]


def test_small_windows_do_not_alert_on_null_noise(rng):
    """30 rows with 2 nulls against a 1% reference rate: a 6.7-point rise, not significant."""
    reference = _columns(rng, 4000, nulls=0.01)
    current = _columns(rng, 30)
    current["x"][:2] = np.nan
    ref, cur = profiles(frame(reference), frame(current))
    assert detect_quality(ref, cur, QualityParams()).status == Status.ok


def test_unreadable_files_and_schema_changes_are_findings(rng):
    ref, cur = profiles(frame(_columns(rng, 500)), frame(_columns(rng, 500)))
    changed = type(cur)(
        cur.dataset,
        cur.start,
        cur.end,
        cur.rows,
        cur.columns,
        {**cur.schema, "x": "string", "new": "int64"},
    )
    result = detect_quality(
        ref, changed, unreadable=[("/data/day=3/part.parquet", "ArrowInvalid: bad footer")]
    )
    assert sorted((f.pattern, f.column) for f in result.alerts) == [
        ("corrupt_partition", None),
        ("schema_change", "new"),
        ("schema_change", "x"),
    ]


def _timeline(counts, latest_hours_before_end):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=len(counts))
    return Timeline(
        start, end, timedelta(days=1), tuple(counts), end - timedelta(hours=latest_hours_before_end)
    )


def test_freshness_clean_stale_and_missing():
    params = FreshnessParams(max_lag="2h", expected_every="1d")
    clean = _timeline([100] * 7, 1)
    assert detect_freshness(clean, clean.end, params).status == Status.ok
    stale = _timeline([100] * 7, 5)
    assert [f.pattern for f in detect_freshness(stale, stale.end, params).alerts] == ["stale_data"]
    gap = _timeline([100, 100, 0, 100, 0, 100, 100], 1)
    result = detect_freshness(gap, gap.end, params)
    assert [f.details["partition"][:10] for f in result.alerts] == ["2025-01-03", "2025-01-05"]
    assert result.alerts[0].details["bucket"] == "1d"
    assert result.summary["checked_partitions"] == {
        "start": "2025-01-01T00:00:00+00:00",
        "end": "2025-01-08T00:00:00+00:00",
    }


def test_a_hole_at_the_start_of_the_lookback_counts_when_the_data_began_earlier():
    params = FreshnessParams(max_lag="2h", expected_every="1d")
    young = _timeline([0, 0, 0, 100, 100], 1)
    assert detect_freshness(young, young.end, params).status == Status.ok
    older = Timeline(
        young.start,
        young.end,
        young.step,
        (0, 100, 100, 100, 100),
        young.latest,
        young.start - timedelta(days=30),
    )
    assert [
        f.details["partition"][:10] for f in detect_freshness(older, older.end, params).alerts
    ] == ["2025-01-01"]


def test_a_stopped_feed_is_stale_data_once_not_a_missing_partition_per_day():
    params = FreshnessParams(max_lag="26h", expected_every="1d")
    stopped = _timeline([100, 100, 100, 0, 0, 0], 72 + 1)
    assert [f.pattern for f in detect_freshness(stopped, stopped.end, params).alerts] == [
        "stale_data"
    ]


def test_freshness_on_an_empty_dataset_is_insufficient_data():
    params = FreshnessParams(max_lag="2h", expected_every="1d")
    empty = _timeline([0, 0, 0], 1)
    empty = Timeline(empty.start, empty.end, empty.step, empty.counts, None)
    assert detect_freshness(empty, empty.end, params).status == Status.insufficient_data


def test_a_distance_over_its_threshold_by_chance_does_not_alert():
    """Clean 300-row windows: the normalised Wasserstein crosses 0.1 by chance in many seeds,
    but the companion KS test (corrected) says it is noise, so nothing alerts."""
    crossed = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        ref, cur = profiles(
            frame({"x": rng.normal(0, 1, 300)}), frame({"x": rng.normal(0, 1, 300)})
        )
        result = detect_drift(ref, cur, DriftParams(method="wasserstein"))
        (finding,) = result.findings
        if finding.statistic >= finding.threshold:
            crossed += 1
            assert finding.alert is (finding.p_value < 0.05)
    assert crossed >= 5, "the scenario must actually exercise chance crossings"
    shifted_rng = np.random.default_rng(99)
    ref, cur = profiles(
        frame({"x": shifted_rng.normal(0, 1, 300)}), frame({"x": shifted_rng.normal(0.5, 1, 300)})
    )
    assert detect_drift(ref, cur, DriftParams(method="wasserstein")).status == Status.alert


def test_low_cardinality_numbers_are_compared_as_categories(rng):
    """A 0/1 integer label and a 1-5 rating are categorical (Z-test, chi-square), as Evidently
    treats numeric columns with at most 5 distinct values; a real number stays numeric."""
    reference = {
        "label": rng.integers(0, 2, 800),
        "rating": rng.integers(1, 6, 800),
        "x": rng.normal(0, 1, 800),
    }
    current = {
        "label": (rng.random(700) < 0.7).astype(int),
        "rating": rng.integers(1, 6, 700),
        "x": rng.normal(0, 1, 700),
    }
    ref, cur = profiles(frame(reference), frame(current))
    assert [ref.columns[name].kind for name in ("label", "rating", "x")] == [
        "categorical",
        "categorical",
        "numeric",
    ]
    assert cur.columns["label"].kind == "categorical" and cur.columns[
        "label"
    ].categories.keys() == {"0", "1"}
    methods = {f.column: f.method for f in detect_drift(ref, cur).findings}
    assert methods == {"label": "z_test", "rating": "chi_square", "x": "ks"}
    assert [f.column for f in detect_drift(ref, cur).alerts] == ["label"]


def _weeks(counts_per_day: list[int], latest_hours_before_end: int = 1) -> Timeline:
    return _timeline(counts_per_day, latest_hours_before_end)


def test_volume_drop_against_the_same_weekday_with_weekly_seasonality():
    """Weekdays carry 1,000 rows, weekends 300: a quiet Sunday is normal; a Tuesday at 350 is
    a drop, even though 350 is more than a usual Sunday."""
    params = FreshnessParams(max_lag="2h", expected_every="1d", lookback="7d")
    week = [1000, 1000, 1000, 1000, 1000, 300, 300]
    history = week * 4
    sunday = _weeks([*history, 1000, 1000, 1000, 1000, 1000, 300, 290])
    assert [f.pattern for f in detect_freshness(sunday, sunday.end, params).alerts] == []
    tuesday = _weeks([*history, 1000, 350])
    (drop,) = detect_freshness(tuesday, tuesday.end, params).alerts
    assert drop.pattern == "volume_drop" and drop.statistic == pytest.approx(0.35)
    assert drop.details["usual_rows"] == 1000


def test_volume_drop_is_robust_to_an_outlier_week_and_silent_without_history():
    params = FreshnessParams(max_lag="2h", expected_every="1d", lookback="7d")
    # One earlier Monday was a 5x spike: the median ignores it, so a normal Monday is fine.
    history = [1000] * 7 + [5000] + [1000] * 6 + [1000] * 14
    normal = _weeks([*history, 980])
    assert detect_freshness(normal, normal.end, params).status == Status.ok
    young = _weeks([1000] * 10 + [100])
    assert [f.pattern for f in detect_freshness(young, young.end, params).alerts] == []
