"""Profiles: the aggregates of one window of a dataset that every detector works from.

A profile is what the engine computes (one query per window for all columns): counts, nulls,
min/max/mean/std, quantiles, histogram counts on bins derived from the reference, and top-K
category counts. Raw values are kept only for small windows (`values`), where exact tests
such as Kolmogorov-Smirnov need them.

Profiles are persisted (the reference profile cache), so they carry `schema_version` and
round-trip through `to_dict` / `from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from detectors.timeparse import parse_instant

PROFILE_SCHEMA_VERSION = 1

#: Quantile levels computed for every numeric column: 0, 0.01, ..., 1 (101 levels).
#: Wasserstein distances are integrated over these, so their resolution bounds the error.
QUANTILE_LEVELS: tuple[float, ...] = tuple(round(i / 100, 2) for i in range(101))

ColumnKind = Literal["numeric", "categorical", "datetime", "other"]
#: The category that a profile's top-K counts sum every rarer value into.
OTHER_CATEGORY = "__other__"


@dataclass(frozen=True)
class Histogram:
    """Counts of values in bins cut at `edges` (interior cut points, ascending).

    Bin i holds values in (edges[i-1], edges[i]]; the first bin is (-inf, edges[0]] and the
    last (edges[-1], +inf), so `len(counts) == len(edges) + 1` and no value is lost.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class ColumnProfile:
    """Aggregates of one column in one window. `count` excludes nulls; `rows` includes them."""

    name: str
    kind: ColumnKind
    dtype: str
    rows: int
    nulls: int
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    distinct: int | None = None
    quantiles: tuple[float, ...] | None = None
    histogram: Histogram | None = None
    #: Rows below the reference minimum / above the reference maximum (current windows only).
    below_reference: int | None = None
    above_reference: int | None = None
    #: Top-K category counts (value rendered as text) and the count of all other values.
    categories: dict[str, int] | None = None
    other_count: int | None = None
    #: Raw non-null values, only when the window is small enough for exact tests.
    values: tuple[Any, ...] | None = None

    @property
    def count(self) -> int:
        return self.rows - self.nulls

    @property
    def null_share(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def categories_complete(self) -> bool:
        """True when `categories` lists every value seen (no top-K truncation)."""
        return (self.other_count or 0) == 0


@dataclass(frozen=True)
class WindowProfile:
    """A profile of the window [start, end) of one dataset."""

    dataset: str
    start: datetime | None
    end: datetime | None
    rows: int
    columns: dict[str, ColumnProfile]
    schema: dict[str, str] = field(default_factory=dict)
    schema_version: int = PROFILE_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat() if self.start else None
        data["end"] = self.end.isoformat() if self.end else None
        for column in data["columns"].values():
            if column["values"] is not None:
                column["values"] = [_jsonable(value) for value in column["values"]]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowProfile:
        version = data.get("schema_version")
        if version != PROFILE_SCHEMA_VERSION:
            raise ValueError(
                f"profile schema version {version!r} is not {PROFILE_SCHEMA_VERSION}; "
                "recompute the profile"
            )
        columns = {name: _column_from_dict(column) for name, column in data["columns"].items()}
        return cls(
            dataset=data["dataset"],
            start=parse_instant(data["start"]) if data["start"] else None,
            end=parse_instant(data["end"]) if data["end"] else None,
            rows=int(data["rows"]),
            columns=columns,
            schema=dict(data.get("schema") or {}),
            schema_version=version,
        )


def _column_from_dict(data: dict[str, Any]) -> ColumnProfile:
    values = dict(data)
    histogram = values.pop("histogram")
    for key in ("quantiles", "values"):
        if values[key] is not None:
            values[key] = tuple(values[key])
    return ColumnProfile(
        histogram=Histogram(tuple(histogram["edges"]), tuple(histogram["counts"]))
        if histogram
        else None,
        **values,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
