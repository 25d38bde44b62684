"""Durations and instants as people write them in configs (`15m`, `2018-01-01`).

A duration is an integer and one unit: `s` seconds, `m` minutes, `h` hours, `d` days,
`w` weeks (`720h`, `15m`, `7d`). An instant is an ISO 8601 date or datetime; a naive one is
taken to be UTC.

>>> parse_duration("15m")
datetime.timedelta(seconds=900)
>>> format_duration(parse_duration("720h"))
'30d'
>>> parse_duration("100000w")
Traceback (most recent call last):
ValueError: '100000w' is 1,916 years; durations are at most a hundred years (36525d): is it a typo?
>>> parse_instant("2018-01-01").isoformat()
'2018-01-01T00:00:00+00:00'
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_PATTERN = r"^\d+[smhdw]$"
DURATION_HINT = "write an integer and a unit (s, m, h, d or w), for example 15m, 2h or 7d"
#: The longest duration accepted: a hundred years (36,525 days; a silence may be meant to
#: last "forever"). Anything longer is a typo (`100000w` is 1,916 years), and past about 2.7
#: million years Python cannot even hold it.
MAX_DURATION = timedelta(days=36525)


def parse_duration(value: object) -> timedelta:
    """Parse `15m`-style text (or pass a timedelta through); raise ValueError with a hint."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: {DURATION_HINT}")
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration: {DURATION_HINT}")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError(f"{value!r}: a duration must be positive ({DURATION_HINT})")
    seconds = amount * _UNIT_SECONDS[unit]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"{value!r} is {seconds / 86400 / 365.25:,.0f} years; durations are at most a "
            f"hundred years ({format_duration(MAX_DURATION)}): is it a typo?"
        )
    return timedelta(seconds=seconds)


def parse_wait(value: object) -> timedelta:
    """Like `parse_duration`, but zero (`0s`, `0m`...) is allowed: "at once"."""
    if isinstance(value, str) and re.fullmatch(r"\s*0+\s*[smhdw]\s*", value):
        return timedelta(0)
    if isinstance(value, timedelta) and value == timedelta(0):
        return value
    return parse_duration(value)


def format_duration(value: timedelta) -> str:
    """The shortest exact `15m`-style text for a duration (the inverse of parse_duration)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    for unit, size in _UNIT_SECONDS.items():
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover - the loop always matches at "s"


_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def parse_end_instant(value: object) -> datetime:
    """Parse the exclusive end of a range: a bare date means through the end of that day.

    >>> parse_end_instant("2018-12-31").isoformat()
    '2019-01-01T00:00:00+00:00'
    """
    is_date = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and bool(_DATE_ONLY.match(value))
    )
    parsed = parse_instant(value)
    return parsed + timedelta(days=1) if is_date else parsed


def parse_instant(value: object) -> datetime:
    """Parse an ISO 8601 date or datetime into an aware UTC datetime (naive means UTC)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO 8601 date or datetime "
                "(for example 2018-01-01 or 2018-01-01T06:00:00Z)"
            ) from None
    else:
        raise ValueError(f"{value!r} is not an ISO 8601 date or datetime")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
