"""The source a detector reads: an Ibis table with an event-time column.

Every engine (DuckDB over files, PostgreSQL, DuckDB tables, Spark...) is reached through the
same `DatasetSource`; only how the table is opened differs (`files.py`, `sql.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
from ibis.expr.types import Table

from detectors.profile import WindowProfile
from detectors.profiling import ProfileOptions, column_kind, profile_window, window_filter
from detectors.sources.errors import UnreadableFile
from detectors.sources.file_schemas import FileSchema
from detectors.timeline import Timeline


@dataclass
class DatasetSource:
    """A dataset opened as an Ibis table; `spec` identifies it for cache fingerprints."""

    name: str
    table: Table
    time_column: str
    entity_column: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    unreadable: list[UnreadableFile] = field(default_factory=list)
    #: Per-file footer schemas (Parquet datasets only), for per-partition schema checks.
    file_schemas: list[FileSchema] = field(default_factory=list)

    def columns(self) -> dict[str, str]:
        """Column name -> engine type, as text."""
        return {name: str(dtype) for name, dtype in self.table.schema().items()}

    def default_columns(self) -> list[str]:
        """Columns monitored when a monitor names none: all but time, entity and temporal ones."""
        schema = self.table.schema()
        skip = {self.time_column, self.entity_column}
        return [
            name
            for name, dtype in schema.items()
            if name not in skip and column_kind(dtype) in ("numeric", "categorical")
        ]

    def profile(
        self,
        start: datetime | None,
        end: datetime | None,
        columns: Sequence[str],
        *,
        reference: WindowProfile | None = None,
        options: ProfileOptions | None = None,
    ) -> WindowProfile:
        return profile_window(
            self.table,
            dataset=self.name,
            time_column=self.time_column,
            start=start,
            end=end,
            columns=columns,
            reference=reference,
            options=options,
        )

    def window_signature(self, start: datetime | None, end: datetime | None) -> str:
        """A cheap fingerprint of a window's content: row count and time range, with the spec.

        Used to key cached reference profiles: appending, removing or quarantining rows in the
        window changes it; rewriting values in place with the same rows does not (documented
        limit of the cache; `warden scan --refresh-reference` recomputes).
        """
        window = window_filter(self.table, self.time_column, start, end)
        time = window[self.time_column]
        row = window.aggregate(n=window.count(), lo=time.min(), hi=time.max()).execute().iloc[0]
        payload = {
            "spec": self.spec,
            "rows": int(row["n"]),
            "lo": str(row["lo"]),
            "hi": str(row["hi"]),
            "unreadable": sorted(item.path for item in self.unreadable),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def timeline(
        self,
        start: datetime,
        end: datetime,
        step: timedelta,
        *,
        bounds_before: datetime | None = None,
    ) -> Timeline:
        """Row counts per `step` bucket aligned on `start`, and the newest and oldest event
        times before `bounds_before` (default `end`): the scan time, when the buckets stop
        at the last complete one. One query for the buckets, one for the bounds."""
        seconds = int(step.total_seconds())
        window = window_filter(self.table, self.time_column, start, end)
        offset = int(start.timestamp())
        bucket = ((window[self.time_column].epoch_seconds() - offset) // seconds).cast("int64")
        grouped = (
            window.mutate(bucket=bucket).group_by("bucket").aggregate(n=ibis._.count()).execute()
        )
        slots = max(0, int((end - start).total_seconds()) // seconds)
        counts = [0] * slots
        for index, n in grouped.itertuples(index=False):
            if 0 <= int(index) < slots:
                counts[int(index)] = int(n)
        before_end = window_filter(self.table, self.time_column, None, bounds_before or end)
        bounds = (
            before_end.aggregate(
                latest=before_end[self.time_column].max(),
                earliest=before_end[self.time_column].min(),
            )
            .execute()
            .iloc[0]
        )
        return Timeline(
            start, end, step, tuple(counts), _to_utc(bounds["latest"]), _to_utc(bounds["earliest"])
        )


def _to_utc(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float)) or str(value) in ("NaT", "nan", "None"):
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
