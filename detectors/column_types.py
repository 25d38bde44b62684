"""A table's columns as the profiles need them, without the expression layer.

A profile asks three things of each column's engine type: what kind of statistics it gets
(`column_kind`), its type as text (kept in the profile's schema) and, for the small-window
path and the window bounds, its family (floating, integer, text, boolean, timestamp with
or without a time zone). `ColumnType` holds these, built once from an Ibis schema
(`column_types`) or read back from a record an earlier process kept
(`detectors.sources.recorded_files`), so that a scan whose queries are all compiled already
never builds an Ibis schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from detectors.profile import ColumnKind

Family = Literal[
    "floating", "integer", "decimal", "string", "boolean", "timestamp", "date", "other"
]


@dataclass(frozen=True)
class ColumnType:
    """One column's engine type: as Ibis writes it, its kind of statistics, its family,
    and (timestamps only) whether it has a time zone."""

    dtype: str
    kind: ColumnKind
    family: Family
    timezone: str | None = None

    @property
    def naive_time(self) -> bool:
        """A timestamp without a time zone (it holds UTC, Warden's convention)."""
        return self.family == "timestamp" and self.timezone is None

    def to_record(self) -> list[Any]:
        return [self.dtype, self.kind, self.family, self.timezone]

    @classmethod
    def from_record(cls, record: Any) -> ColumnType:
        """Raises ValueError for anything but what `to_record` wrote."""
        if not isinstance(record, list) or len(record) != 4:
            raise ValueError(f"not a column type record: {record!r}")
        dtype, kind, family, timezone = record
        if kind not in ("numeric", "categorical", "datetime", "other"):
            raise ValueError(f"unknown column kind {kind!r}")
        if family not in _FAMILIES or not isinstance(dtype, str):
            raise ValueError(f"unknown column family {family!r}")
        if timezone is not None and not isinstance(timezone, str):
            raise ValueError(f"not a time zone: {timezone!r}")
        return cls(dtype, kind, family, timezone)


_FAMILIES = frozenset(Family.__args__)  # type: ignore[attr-defined]


def column_kind(dtype: Any) -> ColumnKind:
    """The kind of statistics an Ibis type gets."""
    if dtype.is_boolean() or dtype.is_string():
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    if dtype.is_temporal():
        return "datetime"
    return "other"


def column_type(dtype: Any) -> ColumnType:
    """An Ibis type as a `ColumnType`."""
    checks: list[tuple[str, Family]] = [
        ("is_floating", "floating"),
        ("is_integer", "integer"),
        ("is_decimal", "decimal"),
        ("is_string", "string"),
        ("is_boolean", "boolean"),
        ("is_timestamp", "timestamp"),
        ("is_date", "date"),
    ]
    family: Family = next((name for check, name in checks if getattr(dtype, check)()), "other")
    timezone = dtype.timezone if family == "timestamp" else None
    return ColumnType(str(dtype), column_kind(dtype), family, timezone)


def column_types(schema: Mapping[str, Any]) -> dict[str, ColumnType]:
    """An Ibis schema's columns as `ColumnType`s, in order."""
    return {name: column_type(dtype) for name, dtype in schema.items()}
