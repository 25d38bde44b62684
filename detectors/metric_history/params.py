"""Parameters of the metric-history detector (kept apart so configs load fast)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from detectors.params import Duration, EndInstant, Instant, StrictModel
from detectors.timeparse import format_duration

MetricName = Literal["row_count", "null_rate", "mean", "distinct_count"]
Seasonality = Literal["none", "day_of_week", "hour_of_day", "hour_of_week"]
ALL_METRICS: tuple[MetricName, ...] = ("row_count", "null_rate", "mean", "distinct_count")

#: How long one season's cycle is: a training period must hold `min_season_points` of them.
SEASON_CYCLE = {
    "none": None,
    "day_of_week": timedelta(days=7),
    "hour_of_day": timedelta(days=1),
    "hour_of_week": timedelta(days=7),
}


class ExcludedRange(StrictModel):
    """A time range whose points are left out of training (a known incident)."""

    start: Instant
    end: EndInstant


class MetricAnomalyParams(StrictModel):
    """How each metric's new value is compared with its own history.

    `sensitivity` k: a value alerts when it lies more than k robust standard deviations
    from the median of its season's training points (the deviation is 1.4826 x the median
    absolute leave-one-out residual, which equals the standard deviation for normal noise).
    Measured on a weekly cycle with 3% noise and 28 days of training: k = 3 alerts on
    about 1.4% of clean days per series (the median of four Mondays has its own error),
    k = 4 a few times a year.
    """

    metrics: list[MetricName] = Field(
        default_factory=lambda: list(ALL_METRICS),
        min_length=1,
        description="row_count (the window's rows), null_rate (per column), mean (numeric "
        "columns), distinct_count (categorical columns).",
    )
    seasonality: Seasonality = Field(
        "none",
        description="Which past points a value is compared with: none (all), day_of_week "
        "(same weekday), hour_of_day (same hour), hour_of_week (same weekday and hour); "
        "the season of a window is that of its start, in UTC.",
    )
    training: Duration = Field(
        timedelta(days=28), description="History the band is learnt from, before the window."
    )
    sensitivity: float = Field(
        3.0,
        gt=0,
        le=100,
        description="Alert beyond this many robust standard deviations from the season's "
        "median (3: about 1-2% of clean windows per series; 4: a few per year).",
    )
    min_season_points: int = Field(
        3, ge=2, description="Training points of the window's season needed for a verdict."
    )
    exclude: list[ExcludedRange] = Field(
        default_factory=list,
        description="Time ranges (known incidents) whose points are not learnt from.",
    )

    @model_validator(mode="after")
    def _enough_training(self) -> MetricAnomalyParams:
        cycle = SEASON_CYCLE[self.seasonality]
        if cycle is not None and self.training < cycle * self.min_season_points:
            raise ValueError(
                f"training {format_duration(self.training)} holds fewer than "
                f"{self.min_season_points} cycles of {self.seasonality} "
                f"({format_duration(cycle)}); use at least "
                f"{format_duration(cycle * self.min_season_points)}"
            )
        return self
