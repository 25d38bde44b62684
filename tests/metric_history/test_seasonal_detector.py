"""The seasonal band on seeded series with known shapes: a weekly cycle stays quiet, a
spike on the right weekday is caught, a level shift alerts for a bounded stretch and then
becomes the new normal; short or gappy histories give insufficient_data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from detectors.metric_history.detector import Verdict, detect_metric_anomalies
from detectors.metric_history.params import MetricAnomalyParams
from detectors.metric_history.seasonal import NotEnoughHistory, seasonal_band
from detectors.results import Status

MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
DAY = timedelta(days=1)
WEEKLY = MetricAnomalyParams(seasonality="day_of_week", training=timedelta(days=28))
#: Row counts on Monday..Sunday: weekends are half as busy.
PROFILE = np.array([1.0, 1.02, 0.98, 1.01, 0.97, 0.5, 0.55]) * 10_000


def _series(rng: np.random.Generator, days: int, noise: float = 0.03) -> list[float]:
    return [float(PROFILE[d % 7] * (1 + noise * rng.normal())) for d in range(days)]


def _run(values: list[float], params: MetricAnomalyParams = WEEKLY) -> list[dict]:
    """Each day's verdict from the days before it, as daily scans would give them."""
    verdicts: list[dict] = []
    recent: list[Verdict] = []
    key = (None, "row_count")
    for day, value in enumerate(values):
        start = MONDAY + day * DAY
        history = [(MONDAY + d * DAY, values[d]) for d in range(day)]
        report = detect_metric_anomalies(
            {key: value}, {key: history}, {key: recent[-2:]}, start, params
        )
        result = report.result
        verdict = {"day": day, "status": result.status}
        if result.findings:
            finding = result.findings[0]
            verdict.update(
                alert=finding.alert, shape=finding.details["shape"], z=finding.details["z"]
            )
            recent.append(
                Verdict(start, int(np.sign(finding.details["z"])) if finding.alert else 0)
            )
        verdicts.append(verdict)
    return verdicts


def test_a_weekly_cycle_without_anomaly_stays_quiet():
    alerts = days = 0
    for seed in range(10):
        verdicts = _run(_series(np.random.default_rng(seed), 228))[28:]
        days += len(verdicts)
        alerts += sum(v.get("alert", False) for v in verdicts)
    rate = alerts / days
    print(f"clean alert days: {alerts} of {days} ({rate:.2%})")
    assert rate <= 0.03  # measured 1.4% in the design memo; a plain sd on all days: ~40%


def test_the_first_weeks_are_insufficient_data_with_the_counts():
    verdicts = _run(_series(np.random.default_rng(0), 21))
    assert all(v["status"] == Status.insufficient_data for v in verdicts[:21])
    short = detect_metric_anomalies(
        {(None, "row_count"): 1.0},
        {(None, "row_count"): [(MONDAY + d * DAY, 1.0) for d in range(8)]},
        {},
        MONDAY + 14 * DAY,
        WEEKLY,
    )
    assert short.result.status == Status.insufficient_data
    assert "2 of 3 training points for Monday" in short.result.message


def test_a_spike_on_the_right_weekday_is_caught_and_does_not_poison_the_next_weeks():
    values = _series(np.random.default_rng(3), 84)
    spike_day = 58  # a Tuesday
    values[spike_day] *= 1.4
    verdicts = _run(values)
    assert verdicts[spike_day]["alert"] and verdicts[spike_day]["shape"] == "spike"
    after = [v.get("alert", False) for v in verdicts[spike_day + 1 : spike_day + 22]]
    assert sum(after) <= 1
    # A Saturday-sized count on a weekday is caught though it is normal on Saturdays.
    values = _series(np.random.default_rng(4), 60)
    values[56] = PROFILE[5]  # day 56 is a Monday
    assert _run(values)[56]["alert"]


def test_a_level_shift_alerts_for_a_bounded_stretch_then_becomes_normal():
    values = _series(np.random.default_rng(6), 140)
    shift = 70
    values[shift:] = [value * 0.7 for value in values[shift:]]
    verdicts = _run(values)
    alert_days = [v["day"] for v in verdicts if v.get("alert")]
    first_week = [day for day in alert_days if shift <= day < shift + 7]
    assert len(first_week) >= 6  # every weekday falls below its band
    shapes = {verdicts[day]["shape"] for day in first_week}
    assert "level_shift" in shapes  # three windows in a row below the band
    # Once most of each weekday's training points are shifted, the band has caught up:
    # what alerts after the training period is the clean rate's chance (1-2% of days).
    late = [day for day in alert_days if day >= shift + 28]
    # (Over seeds 5-14: 1.4% of the 42 late days, the clean rate; the shift itself alerted
    # on its first 9-10 days.)
    assert len(late) <= 3, late
    print(f"level shift alert days: {alert_days}")


def _band(history: list, day: int, metric: str = "row_count", seasonality: str = "day_of_week"):
    """The band of the window starting `day` days after MONDAY, from 28 days of training."""
    return seasonal_band(
        history,
        MONDAY + day * DAY,
        metric,
        seasonality=seasonality,
        training=timedelta(days=28),
        min_season_points=3,
    )


def test_gaps_in_history_count_by_season_not_by_position():
    history = [(MONDAY + d * DAY, 100.0 + d % 2) for d in range(28) if d % 7 != 0 or d < 8]
    with pytest.raises(NotEnoughHistory, match="2 of 3 training points for Monday in the last 4w"):
        _band(history, 28)
    band = _band(history, 29)  # a Tuesday: all four Tuesdays are there
    assert band.season == "Tuesday" and band.season_points == 4


def test_a_constant_series_has_a_floor_and_null_rates_stay_in_zero_one():
    flat = [(MONDAY + d * DAY, 0.02) for d in range(28)]
    band = _band(flat, 28, "null_rate", "none")
    assert band.scale == 0.001 and band.low == pytest.approx(0.017)
    zero = [(MONDAY + d * DAY, 0.0) for d in range(28)]
    band = _band(zero, 28, "null_rate", "none")
    assert band.low == 0.0 and band.high == pytest.approx(0.003)


def test_an_empty_window_is_reported_not_scored():
    report = detect_metric_anomalies(
        {("x", "mean"): None},
        {("x", "mean"): [(MONDAY + d * DAY, 1.0) for d in range(28)]},
        {},
        MONDAY + 28 * DAY,
        MetricAnomalyParams(),
    )
    assert report.result.status == Status.insufficient_data
    assert "x.mean" in report.result.summary["insufficient"]


def test_training_too_short_for_its_seasonality_is_a_config_error():
    with pytest.raises(ValueError, match="fewer than 3 cycles of day_of_week"):
        MetricAnomalyParams(seasonality="day_of_week", training=timedelta(days=14))
