"""Freshness: is the data recent, and did every expected partition arrive?

- `stale_data`: the newest event time at or before the scan time lags it by more than
  `max_lag` (statistic and threshold in seconds).
- `missing_partition`: an empty bucket of `expected_every` (aligned on the UTC epoch, so
  daily buckets start at midnight UTC) inside the `lookback`, after the data began and before
  the newest bucket that has data: a hole, one finding per missing bucket. Empty buckets after
  the newest data are not holes but a stopped feed, which `stale_data` reports once.
  `summary["checked_partitions"]` is the range of buckets examined, so that an incident about
  a partition outside it is neither confirmed nor cleared.

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
from detectors.timeparse import format_duration


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
    first, last = timeline.first_expected_bucket(), timeline.last_filled_bucket()
    missing = []
    if first is not None and last is not None:
        missing = [index for index in range(first, last) if timeline.counts[index] == 0]
    for index in missing:
        partition = timeline.start + index * timeline.step
        findings.append(
            Finding(
                "missing_partition",
                None,
                "rows_in_bucket",
                0.0,
                1.0,
                True,
                details={
                    "partition": partition.isoformat(),
                    "bucket": format_duration(timeline.step),
                },
            )
        )
    checked = None
    if first is not None and last is not None:
        checked = {
            "start": (timeline.start + first * timeline.step).isoformat(),
            "end": (timeline.start + (last + 1) * timeline.step).isoformat(),
        }
    summary = {
        "lag_seconds": lag,
        "buckets": len(timeline.counts),
        "empty_buckets": len(missing),
        "checked_partitions": checked,
    }
    return DetectorResult.from_findings(
        findings, message=f"latest event {timeline.latest.isoformat()}", summary=summary
    )
