"""A window's bounds as the named parameters of a planned query (no Ibis here).

Every window query (`detectors.profile_queries`) compares the time column with two scalar
parameters, a low and a high bound, of the column's own type: a naive timestamp for a column
without a time zone (it holds UTC, Warden's convention), a timestamp in UTC otherwise. Each
has a name every process gives it alike, so that a compiled query kept in the store
(`detectors.plan_records`) says which literal stands for which bound, and a scan that
finds all its queries kept can bind them without importing the expression layer.
"""

from __future__ import annotations

from datetime import UTC, datetime

#: Each bound parameter's name -> its Ibis type, written as Ibis writes it (`str(dtype)`;
#: a test checks them against `detectors.profile_queries.NAMED_PARAMETERS`).
BOUND_TYPES: dict[str, str] = {
    "naive_low": "timestamp",
    "naive_high": "timestamp",
    "utc_low": "timestamp('UTC')",
    "utc_high": "timestamp('UTC')",
}


def bound_names(naive: bool) -> tuple[str, str]:
    """The (low, high) bound names for a time column without (True) or with a time zone."""
    prefix = "naive" if naive else "utc"
    return f"{prefix}_low", f"{prefix}_high"


def is_aware(name: str) -> bool:
    """Whether the bound `name` is an instant with a time zone (UTC)."""
    return not name.startswith("naive_")


def bound_values(naive: bool, start: datetime | None, end: datetime | None) -> dict[str, datetime]:
    """The bound parameters' values for the window [start, end) by name (an open bound has
    none): naive UTC instants for a naive column, the instants themselves otherwise."""
    low, high = bound_names(naive)
    values = {}
    if start is not None:
        values[low] = as_bound(start, naive)
    if end is not None:
        values[high] = as_bound(end, naive)
    return values


def as_bound(instant: datetime, naive: bool) -> datetime:
    """`instant` as a bound of a naive (UTC) column, or as it is for an aware one."""
    if not naive or instant.tzinfo is None:
        return instant
    return instant.astimezone(UTC).replace(tzinfo=None)
