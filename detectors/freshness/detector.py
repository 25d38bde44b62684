"""Freshness: is the data recent, and did every expected partition arrive?

- `stale_data`: the newest event time at or before the scan time lags it by more than
  `max_lag` (statistic and threshold in seconds).
- `missing_partition`: an empty bucket of `expected_every` (aligned on the UTC epoch, so
  daily buckets start at midnight UTC) inside the `lookback`, after the data began and before
  the newest bucket that has data: a hole, one finding per missing bucket. Empty buckets after
  the newest data are not holes but a stopped feed, which `stale_data` reports once.
  `summary["checked_partitions"]` is the range of buckets examined, so that an incident about
  a partition outside it is neither confirmed nor cleared.
- `volume_drop`: the newest complete bucket holds less than `min_volume_share` (half) of the
  median of the same slot in the `volume_history` (4) earlier seasons (`seasonality`, 7d:
  same weekday), and is more than three robust standard deviations below it.

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

import numpy as np

from detectors.freshness.params import FreshnessParams
from detectors.results import DetectorResult, Finding
from detectors.timeline import Timeline
from detectors.timeparse import format_duration
from detectors.work_labels import doing


def timeline_bounds(
    at: datetime, params: FreshnessParams
) -> tuple[datetime, datetime, timedelta] | None:
    """The (start, end, step) of the timeline to read for a scan at `at`, or None if no cadence."""
    span = params.timeline_span()
    if params.expected_every is None or span is None:
        return None
    step = params.expected_every
    seconds = int(step.total_seconds())
    end_epoch = int(at.timestamp()) // seconds * seconds
    end = datetime.fromtimestamp(end_epoch, tz=at.tzinfo)
    start = end - (span // step) * step
    return start, end, step


@doing("detector")  # the CPU profile's kind of work (detectors.work_labels)
def detect_freshness(timeline: Timeline, at: datetime, params: FreshnessParams) -> DetectorResult:
    """Check lag, gaps and volume of a timeline read for a scan at `at` (module docstring)."""
    if timeline.latest is None:
        return DetectorResult.insufficient("the dataset has no rows at or before the scan time")
    lag = (at - timeline.latest).total_seconds()
    findings = [_stale_finding(timeline, at, lag, params)]
    missing, checked = _missing_partitions(timeline, params)
    findings.extend(missing)
    volume = _volume_finding(timeline, params)
    if volume is not None:
        findings.append(volume)
    summary = {
        "lag_seconds": lag,
        "buckets": len(timeline.counts),
        "empty_buckets": len(missing),
        "checked_partitions": checked,
    }
    return DetectorResult.from_findings(
        findings, message=f"latest event {timeline.latest.isoformat()}", summary=summary
    )


def _stale_finding(
    timeline: Timeline, at: datetime, lag: float, params: FreshnessParams
) -> Finding:
    assert timeline.latest is not None
    limit = params.max_lag.total_seconds()
    return Finding(
        "stale_data",
        None,
        "lag_seconds",
        lag,
        limit,
        lag > limit,
        details={"latest_event": timeline.latest.isoformat(), "scan_time": at.isoformat()},
    )


def _missing_partitions(
    timeline: Timeline, params: FreshnessParams
) -> tuple[list[Finding], dict[str, str] | None]:
    """Holes in the lookback (the tail of the timeline), and the range of buckets checked."""
    first, last = timeline.first_expected_bucket(), timeline.last_filled_bucket()
    lookback = params.lookback_span()
    if lookback is not None:
        lookback_start = max(0, len(timeline.counts) - lookback // timeline.step)
        first = None if first is None else max(first, lookback_start)
    if first is None or last is None or first > last:
        return [], None
    findings = [
        Finding(
            "missing_partition",
            None,
            "rows_in_bucket",
            0.0,
            1.0,
            True,
            details={
                "partition": (timeline.start + index * timeline.step).isoformat(),
                "bucket": format_duration(timeline.step),
            },
        )
        for index in range(first, last)
        if timeline.counts[index] == 0
    ]
    checked = {
        "start": (timeline.start + first * timeline.step).isoformat(),
        "end": (timeline.start + (last + 1) * timeline.step).isoformat(),
    }
    return findings, checked


def _volume_finding(timeline: Timeline, params: FreshnessParams) -> Finding | None:
    """The newest complete bucket against the same slot in earlier seasons (median, MAD).

    It alerts when the count is below `min_volume_share` of the median and more than three
    robust standard deviations (1.4826 x MAD) below it, so a volatile history does not cry
    wolf. An empty bucket is left to stale_data and missing_partition; a slot without
    enough history gives no verdict.
    """
    if params.expected_every is None or not params.volume_history or not timeline.counts:
        return None
    newest = len(timeline.counts) - 1
    count = timeline.counts[newest]
    season = params.seasonality // timeline.step
    earlier = [newest - k * season for k in range(1, params.volume_history + 1)]
    history = [timeline.counts[i] for i in earlier if i >= 0]
    if count == 0 or len(history) < params.volume_history:
        return None
    baseline = float(np.median(history))
    spread = 1.4826 * float(np.median(np.abs(np.asarray(history) - baseline)))
    share = count / baseline if baseline else 1.0
    alert = share < params.min_volume_share and (baseline - count) > 3 * spread
    return Finding(
        "volume_drop",
        None,
        "share_of_usual_volume",
        share,
        params.min_volume_share,
        bool(alert),
        details={
            "partition": (timeline.start + newest * timeline.step).isoformat(),
            "bucket": format_duration(timeline.step),
            "rows": count,
            "usual_rows": baseline,
            "history": history,
        },
    )
