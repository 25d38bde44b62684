"""Row counts per time bucket: what freshness checks read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Timeline:
    """Row counts per time bucket of `step`, from `start` (inclusive) to `end` (exclusive).

    `counts[i]` is the number of rows with event time in [start + i*step, start + (i+1)*step).
    `latest` is the newest event time before `end` (None when there is none); `earliest` the
    oldest event time of the whole dataset (None when unknown), which tells whether the data
    began before `start`, so that leading empty buckets are gaps rather than "not yet".
    """

    start: datetime
    end: datetime
    step: timedelta
    counts: tuple[int, ...]
    latest: datetime | None
    earliest: datetime | None = None

    def first_expected_bucket(self) -> int | None:
        """Index of the first bucket that should hold data, or None if none should."""
        if self.earliest is not None and self.earliest < self.start:
            return 0
        return next((index for index, n in enumerate(self.counts) if n > 0), None)

    def last_filled_bucket(self) -> int | None:
        return next((i for i in range(len(self.counts) - 1, -1, -1) if self.counts[i] > 0), None)
