"""Freshness: is the data recent, and did every expected partition arrive?

- `stale_data`: the newest event time at or before the scan time lags it by more than
  `max_lag` (statistic and threshold in seconds).
- `missing_partition`: an empty bucket of `expected_every` (aligned on the UTC epoch, so
  daily buckets start at midnight UTC) between the first non-empty bucket of the `lookback`
  and the last complete bucket before the scan time; one finding per missing bucket.

>>> from datetime import datetime, timedelta, UTC
>>> from detectors.timeline import Timeline
>>> day = timedelta(days=1)
>>> timeline = Timeline(
...     datetime(2025, 1, 1, tzinfo=UTC),
...     datetime(2025, 1, 5, tzinfo=UTC),
...     day,
...     (10, 0, 12, 11),
...     datetime(2025, 1, 4, 23, tzinfo=UTC),
... )
>>> result = detect_freshness(
...     timeline,
...     datetime(2025, 1, 5, 1, tzinfo=UTC),
...     FreshnessParams(max_lag="1d", expected_every="1d"),
... )
>>> [(f.pattern, f.details.get("partition")) for f in result.alerts]
[('missing_partition', '2025-01-02T00:00:00+00:00')]
"""

from __future__ import annotations

from datetime import datetime, timedelta

from detectors.freshness.params import FreshnessParams
from detectors.results import DetectorResult, Finding
from detectors.timeline import Timeline


def timeline_bounds(
    at: datetime, params: FreshnessParams
) -> tuple[datetime, datetime, timedelta] | None:
    """The (start, end, step) of the timeline to read for a scan at `at`, or None if no cadence."""
    span = params.lookback_span()
    if params.expected_every is None or span is None:
        return None
    step = params.expected_every
    seconds = int(step.total_seconds())
    end_epoch = int(at.timestamp()) // seconds * seconds
    end = datetime.fromtimestamp(end_epoch, tz=at.tzinfo)
    start = end - (span // step) * step
    return start, end, step


def detect_freshness(timeline: Timeline, at: datetime, params: FreshnessParams) -> DetectorResult:
    """Check lag and gaps of a timeline read for a scan at `at` (see the module docstring)."""
    if timeline.latest is None:
        return DetectorResult.insufficient("the dataset has no rows at or before the scan time")
    findings: list[Finding] = []
    lag = (at - timeline.latest).total_seconds()
    findings.append(
        Finding(
            "stale_data",
            None,
            "lag_seconds",
            lag,
            params.max_lag.total_seconds(),
            lag > params.max_lag.total_seconds(),
            details={"latest_event": timeline.latest.isoformat(), "scan_time": at.isoformat()},
        )
    )
    counts = timeline.counts
    first = next((index for index, n in enumerate(counts) if n > 0), None)
    if first is not None:
        for index in range(first + 1, len(counts)):
            if counts[index] == 0:
                partition = timeline.start + index * timeline.step
                findings.append(
                    Finding(
                        "missing_partition",
                        None,
                        "rows_in_bucket",
                        0.0,
                        1.0,
                        True,
                        details={"partition": partition.isoformat(), "bucket": str(timeline.step)},
                    )
                )
    summary = {
        "lag_seconds": lag,
        "buckets": len(counts),
        "empty_buckets": sum(1 for n in counts[first or 0 :] if n == 0),
    }
    return DetectorResult.from_findings(
        findings, message=f"latest event {timeline.latest.isoformat()}", summary=summary
    )
