"""Each Parquet file's own schema and event-time range, read from its footer (no data read).

The engine unifies files by column name, so a partition that lost a column only shows as
nulls; comparing footers finds the file itself. The time range comes from row-group
statistics, when the writer kept them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow.parquet as pq


@dataclass(frozen=True)
class FileSchema:
    """A file's columns (name -> type, timestamps without their unit) and event-time range."""

    path: str
    columns: dict[str, str]
    start: datetime | None = None
    end: datetime | None = None

    def overlaps(self, start: datetime | None, end: datetime | None) -> bool:
        """Whether the file may hold rows in [start, end); unknown ranges do not match."""
        if self.start is None or self.end is None:
            return False
        return (end is None or self.start < end) and (start is None or self.end >= start)


def read_parquet_schema(path: str, time_column: str) -> FileSchema:
    """Read the footer of `path`; raises on an unreadable file."""
    metadata = pq.ParquetFile(path).metadata
    arrow = metadata.schema.to_arrow_schema()
    columns = {field.name: _type_name(str(field.type)) for field in arrow}
    start, end = _time_range(metadata, time_column)
    return FileSchema(path, columns, start, end)


def _type_name(arrow_type: str) -> str:
    # A change of timestamp unit (ns -> us) is not a change of meaning.
    return "timestamp" if arrow_type.startswith("timestamp") else arrow_type


def _time_range(
    metadata: pq.FileMetaData, time_column: str
) -> tuple[datetime | None, datetime | None]:
    names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    if time_column not in names:
        return None, None
    index = names.index(time_column)
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        statistics = metadata.row_group(group).column(index).statistics
        if statistics is None or not statistics.has_min_max:
            return None, None
        lows.append(_as_utc(statistics.min))
        highs.append(_as_utc(statistics.max))
    if not lows or None in lows or None in highs:
        return None, None
    return min(lows), max(highs)  # type: ignore[type-var]


def _as_utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
