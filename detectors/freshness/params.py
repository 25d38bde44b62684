"""Parameters of the freshness detector (durations like `2h` or `1d`)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from detectors.params import Duration, StrictModel


class FreshnessParams(StrictModel):
    """How fresh the data must be; durations like `2h` or `1d`."""

    max_lag: Duration = Field(
        description="Newest event older than this (vs the scan time) is stale."
    )
    expected_every: Duration | None = Field(
        None, description="Cadence of partitions; empty buckets are missing partitions."
    )
    lookback: Duration | None = Field(
        None, description="How far back to look for gaps (default 7 x expected_every)."
    )

    min_volume_share: float = Field(
        0.5,
        gt=0,
        lt=1,
        description=(
            "The newest complete bucket alerts (volume_drop) below this share of the median of "
            "the same slot in earlier seasons."
        ),
    )
    seasonality: Duration = Field(
        timedelta(days=7),
        description="Distance between comparable buckets (7d: same weekday, same hour).",
    )
    volume_history: int = Field(
        4, ge=0, description="Earlier seasons to compare volume with (0 turns volume_drop off)."
    )

    @model_validator(mode="after")
    def _season_fits_cadence(self) -> FreshnessParams:
        every = self.expected_every
        if every is not None and self.volume_history and self.seasonality % every:
            raise ValueError(
                "`seasonality` must be a whole number of `expected_every` buckets "
                f"(got {self.seasonality} and {every})"
            )
        return self

    def lookback_span(self) -> timedelta | None:
        """How far back gaps are looked for (default 7 x expected_every)."""
        if self.expected_every is None:
            return None
        return self.lookback or self.expected_every * 7

    def timeline_span(self) -> timedelta | None:
        """How far back counts are read: the lookback, or the volume history if longer."""
        lookback = self.lookback_span()
        if lookback is None or self.expected_every is None:
            return None
        history = self.seasonality * self.volume_history + self.expected_every
        return max(lookback, history)
