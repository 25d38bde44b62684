"""Parameters of the freshness detector (durations like `2h` or `1d`)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

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

    def lookback_span(self) -> timedelta | None:
        if self.expected_every is None:
            return None
        return self.lookback or self.expected_every * 7
