"""Each Parquet file's own schema and event-time range, read from its footer (no data read).

The engine unifies files by column name, so a partition that lost a column only shows as
nulls; comparing footers finds the file itself. The time range comes from row-group
statistics, when the writer kept them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

    def to_record(self) -> dict[str, Any]:
        """As JSON-safe values (`detectors.sources.recorded_files` keeps it)."""
        return {
            "path": self.path,
            "columns": self.columns,
            "start": self.start.isoformat() if self.start is not None else None,
            "end": self.end.isoformat() if self.end is not None else None,
        }

    @classmethod
    def from_record(cls, record: Any) -> FileSchema:
        """What `to_record` wrote; raises ValueError (or KeyError, TypeError) otherwise."""
        columns = record["columns"]
        if not isinstance(record["path"], str) or not isinstance(columns, dict):
            raise ValueError("not a file schema record")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
            raise ValueError("not a file schema record")
        start, end = (record[side] for side in ("start", "end"))
        return cls(
            record["path"],
            dict(columns),
            datetime.fromisoformat(start) if start is not None else None,
            datetime.fromisoformat(end) if end is not None else None,
        )


def read_parquet_schema(path: str, time_column: str) -> FileSchema:
    """Read the footer of `path`; raises on an unreadable file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    arrow = metadata.schema.to_arrow_schema()
    columns = {field.name: _type_name(str(field.type)) for field in arrow}
    field = arrow.field(time_column) if time_column in arrow.names else None
    if field is None or not pa.types.is_timestamp(field.type):
        return FileSchema(path, columns)
    start, end = _time_range(metadata, time_column, field.type.unit)
    return FileSchema(path, columns, start, end)


def _type_name(arrow_type: str) -> str:
    # A change of timestamp unit (ns -> us) is not a change of meaning.
    return "timestamp" if arrow_type.startswith("timestamp") else arrow_type


def _time_range(
    metadata: pq.FileMetaData, time_column: str, unit: str
) -> tuple[datetime | None, datetime | None]:
    """The row groups' smallest and largest time, from their raw statistics (integers in
    `unit` since the epoch, UTC): pyarrow's typed statistics would import pandas to build
    its timestamps, which a scan otherwise never loads."""
    names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    if time_column not in names:
        return None, None
    index = names.index(time_column)
    per_microsecond = _TICKS_PER_MICROSECOND.get(unit)
    if per_microsecond is None:
        return None, None
    lows, highs = [], []
    for group in range(metadata.num_row_groups):
        statistics = metadata.row_group(group).column(index).statistics
        if statistics is None or not statistics.has_min_max:
            return None, None
        low, high = statistics.min_raw, statistics.max_raw
        if not isinstance(low, int) or not isinstance(high, int):
            return None, None  # INT96 and other physical types: no usable range
        # Down for the earliest, up for the latest: the range never leaves a row out.
        lows.append(_instant(low, per_microsecond, floor=True))
        highs.append(_instant(high, per_microsecond, floor=False))
    if not lows or None in lows or None in highs:
        return None, None
    return min(lows), max(highs)  # type: ignore[type-var]


#: Raw ticks per microsecond for each Arrow timestamp unit (fractions for coarser units).
_TICKS_PER_MICROSECOND = {"ns": 1000, "us": 1, "ms": 1 / 1000, "s": 1 / 1_000_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _instant(ticks: int, per_microsecond: float, *, floor: bool) -> datetime | None:
    """`ticks` since the epoch as a UTC datetime at microsecond precision (rounded down or
    up); None when out of Python's datetime range."""
    if per_microsecond >= 1:
        whole, rest = divmod(ticks, int(per_microsecond))
        micros = whole if floor or rest == 0 else whole + 1
    else:
        micros = ticks * round(1 / per_microsecond)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None
