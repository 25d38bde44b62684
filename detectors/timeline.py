"""Row counts per time bucket: what freshness checks read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Timeline:
    """Row counts per time bucket of `step`, from `start` (inclusive) to `end` (exclusive).

    `counts[i]` is the number of rows with event time in [start + i*step, start + (i+1)*step).
    `latest` is the newest event time at or before `end` (None when there is none).
    """

    start: datetime
    end: datetime
    step: timedelta
    counts: tuple[int, ...]
    latest: datetime | None
