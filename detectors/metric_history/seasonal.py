"""The seasonal robust band of one metric series (pure).

For a new value at time t (its window's start) with season s:

1. training points: those in [t - training, t) outside the excluded ranges;
2. counts (`row_count`, `distinct_count`) are compared in log space (log1p): their cycles
   are multiplicative and their noise grows with their level;
3. expected value: the median of the training points of season s;
4. scale: 1.4826 x the median absolute *leave-one-out* residual, pooled over all seasons
   (each training point against the median of the other points of its season): with four
   Mondays in 28 days a per-season spread is too noisy, and a residual to a median that
   includes the point itself is too small (8.7% false alarms per day at k = 3 against 1.4%,
   `docs/design/detection-depth.md`);
5. the scale has a floor, so a constant series does not alert on any change: 0.01 in log
   space for counts (1%), 0.001 for a null rate, 1e-6 x |median| for a mean;
6. z = (value - expected) / scale; the band is expected +- sensitivity x scale, mapped back
   from log space for counts.

Points that alerted earlier stay in training: the median ignores one spike among four
same-season points, and dropping alerted points shrinks the spread until more points
alert. A level shift moves the median once most of a season's training points are
shifted (2-3 weeks with day_of_week and 28 days): the shift alerts until then, as one
incident, and then is the new normal.

>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
>>> history = [(t0 + timedelta(days=d), 100.0 + (d % 3)) for d in range(28)]
>>> band = seasonal_band(history, t0 + timedelta(days=28), "row_count", seasonality="none",
...                      training=timedelta(days=28), min_season_points=3)
>>> round(band.expected), band.low < 100 < band.high
(101, True)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from detectors.timeparse import format_duration

#: Metrics compared in log space.
COUNT_METRICS = ("row_count", "distinct_count")
#: 1 / Phi^-1(3/4): turns a median absolute deviation into a standard deviation.
MAD_TO_SD = 1.4826
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def season_of(at: datetime, seasonality: str) -> tuple[int, ...]:
    """The season key of a window starting at `at` (UTC)."""
    if seasonality == "day_of_week":
        return (at.weekday(),)
    if seasonality == "hour_of_day":
        return (at.hour,)
    if seasonality == "hour_of_week":
        return (at.weekday(), at.hour)
    return ()


def season_name(key: tuple[int, ...], seasonality: str) -> str:
    if seasonality == "day_of_week":
        return WEEKDAYS[key[0]]
    if seasonality == "hour_of_day":
        return f"{key[0]:02d}:00 UTC"
    if seasonality == "hour_of_week":
        return f"{WEEKDAYS[key[0]]} {key[1]:02d}:00 UTC"
    return "all windows"


class NotEnoughHistory(ValueError):
    """Too few training points for a verdict (`insufficient_data`)."""


@dataclass(frozen=True)
class Band:
    """The expected value of a series at one time, and the band around it (the metric's
    own units); `scale` in the compared space (log for counts)."""

    expected: float
    low: float
    high: float
    scale: float
    season: str
    training_points: int
    season_points: int
    log_space: bool

    def z(self, value: float) -> float:
        compared = math.log1p(max(value, 0.0)) if self.log_space else value
        centre = math.log1p(max(self.expected, 0.0)) if self.log_space else self.expected
        return (compared - centre) / self.scale


def _floor(metric: str, median: float) -> float:
    if metric in COUNT_METRICS:
        return 0.01
    if metric == "null_rate":
        return 0.001
    return max(1e-6 * abs(median), 1e-12)


def seasonal_band(
    history: Sequence[tuple[datetime, float]],
    at: datetime,
    metric: str,
    *,
    seasonality: str,
    training: timedelta,
    min_season_points: int,
    sensitivity: float = 3.0,
    excluded: Sequence[tuple[datetime, datetime]] = (),
) -> Band:
    """The band of the value of the window starting at `at`, from `history` (window
    start, value) pairs; raises NotEnoughHistory with the counts when it cannot."""
    log_space = metric in COUNT_METRICS

    def compared(value: float) -> float:
        return math.log1p(max(value, 0.0)) if log_space else value

    usable = [
        (start, compared(value))
        for start, value in history
        if at - training <= start < at
        and value is not None
        and math.isfinite(value)
        and not any(low <= start < high for low, high in excluded)
    ]
    by_season: dict[tuple[int, ...], list[float]] = {}
    for start, value in usable:
        by_season.setdefault(season_of(start, seasonality), []).append(value)
    key = season_of(at, seasonality)
    season = by_season.get(key, [])
    name = season_name(key, seasonality)
    if len(season) < min_season_points:
        raise NotEnoughHistory(
            f"{len(season)} of {min_season_points} training points for {name} "
            f"in the last {format_duration(training)}"
        )
    residuals = []
    for values in by_season.values():
        if len(values) < 2:
            continue
        for index, value in enumerate(values):
            others = values[:index] + values[index + 1 :]
            residuals.append(abs(value - statistics.median(others)))
    median = statistics.median(season)
    spread = MAD_TO_SD * statistics.median(residuals) if residuals else 0.0
    scale = max(spread, _floor(metric, median))
    low, high = median - sensitivity * scale, median + sensitivity * scale
    if log_space:
        expected, low, high = math.expm1(median), math.expm1(low), math.expm1(high)
    else:
        expected = median
    if metric == "null_rate":
        low, high = max(low, 0.0), min(high, 1.0)
    return Band(expected, low, high, scale, name, len(usable), len(season), log_space)
