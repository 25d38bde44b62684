"""The one clock Warden reads: the current time, timezone-aware UTC.

Light on purpose (no SQLAlchemy), so the CLI reads it without loading the store.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only clock the store uses)."""
    return datetime.now(UTC)
