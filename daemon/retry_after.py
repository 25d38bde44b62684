"""Reading an HTTP `Retry-After` header (RFC 9110 §10.2.3): a number of seconds, or an
HTTP date. One reader for every outbox that honours it (Slack, PagerDuty, OpenLineage).

The wait is clamped to [`MIN_WAIT`, `MAX_WAIT`] seconds: a server asking for no wait
still gets one second (no busy loop), and a server asking for days is not believed past
an hour (the outbox retries for a day at most anyway).

>>> retry_after_seconds("7"), retry_after_seconds("0"), retry_after_seconds("999999")
(7.0, 1.0, 3600.0)
>>> retry_after_seconds(None), retry_after_seconds("soon"), retry_after_seconds("-5")
(None, None, None)
>>> from datetime import datetime, UTC
>>> at = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
>>> retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=at)
30.0
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: The shortest and longest wait a `Retry-After` header can ask for, in seconds.
MIN_WAIT = 1.0
MAX_WAIT = 3600.0


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait as the header says, clamped; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        seconds = _until_date(text, now)
    else:
        # NaN or a negative number is unreadable, not "now".
        seconds = number if number == number and number >= 0 else None
    return None if seconds is None else min(MAX_WAIT, max(MIN_WAIT, seconds))


def _until_date(text: str, now: datetime | None) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - (now or datetime.now(UTC))).total_seconds()
