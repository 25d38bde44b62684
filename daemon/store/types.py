"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no JSONB; these decorators make every backend hand back
timezone-aware UTC datetimes and plain JSON values, so the storage contract suite can assert
identical behaviour on both. Every value written to a `JSONType` column is sanitised first
(`daemon.store.json_safety.sanitize_json`: NUL and the other C0 control characters but tab,
newline and carriage return become the visible escape ``\\u00XX``, lone surrogates U+FFFD),
so text from the data can never make a write fail on PostgreSQL, and both backends store
the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from daemon.clock import utcnow as utcnow  # re-exported: the store's clock
from daemon.store.json_safety import sanitize_json


class SafeJSON(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact), with every value written
    sanitised by `sanitize_json` (values read come back as stored)."""

    impl = JSON()
    cache_ok = True
    #: As JSON's: Python None is written as the JSON null, not left out of an INSERT.
    should_evaluate_none = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return sanitize_json(value)


#: The type of every JSON column but the audit payload (see `daemon.store.audit`).
JSONType = SafeJSON()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    Naive datetimes given to the store are taken to be UTC, the same rule the config applies
    to naive ISO 8601 times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
