"""The source a detector reads: an Ibis table with an event-time column.

Every engine (DuckDB over files, PostgreSQL, DuckDB tables, Spark...) is reached through the
same `DatasetSource`; only how the table is opened differs (`files.py`, `sql.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
from ibis.expr.types import Table

from detectors.plan_records import PlanArchive
from detectors.profile import WindowProfile
from detectors.profile_queries import (
    BOUND_PARAMETERS,
    bound_values,
    is_naive,
    parametrised_window,
)
from detectors.profiling import ProfileOptions, column_kind, profile_window
from detectors.query_plans import QueryPlans
from detectors.sources.errors import UnreadableFile
from detectors.sources.file_schemas import FileSchema
from detectors.timeline import Timeline

#: Results a source remembers at most (`DatasetSource.remember`): a reference profile and
#: its window's signature for each of a few references; a rolling reference leaves one
#: behind every tick, so the least recently used go.
REMEMBERED = 16


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
    #: Where compiled queries outlive the process (`detectors.plan_records`); set before
    #: the first query (by the scan: the store's archive), or None to keep them in memory.
    plan_archive: PlanArchive | None = field(default=None, repr=False, compare=False)
    _plans: QueryPlans | None = field(default=None, init=False, repr=False, compare=False)
    _remembered: OrderedDict[Hashable, Any] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def recall(self, key: Hashable) -> Any:
        """What `remember` kept under `key`, or None.

        What is remembered holds while the source's data is unchanged: window signatures,
        decoded reference profiles. A daemon opens a kept file source again when its files
        change (`daemon.scan.open_sources`); every other source lives for one scan.
        """
        value = self._remembered.get(key)
        if value is not None:
            self._remembered.move_to_end(key)
        return value

    def plan_counts(self) -> dict[str, int]:
        """Queries run from kept plans ("hits") and plans compiled ("misses") by this
        source; zeros when it ran none (without creating its plans)."""
        plans = self._plans
        return plans.stats() if plans is not None else {"hits": 0, "misses": 0}

    def remember(self, key: Hashable, value: Any) -> None:
        """Keep `value` under `key` (the least recently used beyond `REMEMBERED` go)."""
        self._remembered[key] = value
        self._remembered.move_to_end(key)
        while len(self._remembered) > REMEMBERED:
            self._remembered.popitem(last=False)

    @property
    def plans(self) -> QueryPlans:
        """The table's queries, built and compiled once and kept with the source: a daemon
        keeps its file datasets open between scans (`daemon.scan.open_sources`), so a
        monitor's queries are compiled on its first scan only."""
        if self._plans is None:
            self._plans = QueryPlans(self.table, archive=self.plan_archive)
        return self._plans

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
            plans=self.plans,
        )

    def window_signature(self, start: datetime | None, end: datetime | None) -> str:
        """A cheap fingerprint of a window's content: row count and time range, with the spec.

        Used to key cached reference profiles: appending, removing or quarantining rows in the
        window changes it; rewriting values in place with the same rows does not (documented
        limit of the cache; `warden scan --refresh-reference` recomputes). Remembered while
        the source's data is unchanged (`recall`).
        """
        remembered = self.recall(("signature", start, end))
        if remembered is not None:
            return str(remembered)
        row = self.plans.rows(
            ("signature", self.time_column),
            lambda: self._signature_query(start, end),
            self._bounds(start, end),
        ).first()
        payload = {
            "spec": self.spec,
            "rows": int(row["n"]),
            "lo": str(row["lo"]),
            "hi": str(row["hi"]),
            "unreadable": sorted(item.path for item in self.unreadable),
        }
        signature = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        self.remember(("signature", start, end), signature)
        return signature

    def _bounds(self, start: datetime | None, end: datetime | None) -> dict[Any, datetime]:
        return bound_values(self.table.schema()[self.time_column], start, end)

    def _window(self, start: datetime | None, end: datetime | None) -> Table:
        """The rows between the bound parameters (`detectors.profile_queries`); only which
        of `start` and `end` are set shapes it, their values are bound when it runs."""
        return parametrised_window(self.table, self.time_column, start, end)[0]

    def _signature_query(self, start: datetime | None, end: datetime | None) -> Table:
        window = self._window(start, end)
        time = window[self.time_column]
        return window.aggregate(n=window.count(), lo=time.min(), hi=time.max())

    def _bucket_query(self, start: datetime, end: datetime, seconds: int) -> Table:
        """Rows per `seconds` bucket, counted from the window's lower bound."""
        window = self._window(start, end)
        low, _ = BOUND_PARAMETERS[is_naive(window[self.time_column].type())]
        offset = window[self.time_column].epoch_seconds() - low.epoch_seconds()
        bucket = (offset // seconds).cast("int64")
        return window.mutate(bucket=bucket).group_by("bucket").aggregate(n=ibis._.count())

    def _time_bounds_query(self, before: datetime) -> Table:
        before_end = self._window(None, before)
        time = before_end[self.time_column]
        return before_end.aggregate(latest=time.max(), earliest=time.min())

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
        grouped = self.plans.rows(
            ("timeline", self.time_column, seconds),
            lambda: self._bucket_query(start, end, seconds),
            self._bounds(start, end),
        )
        slots = max(0, int((end - start).total_seconds()) // seconds)
        counts = [0] * slots
        for index, n in grouped.rows:
            if 0 <= int(index) < slots:
                counts[int(index)] = int(n)
        bounds = self.plans.rows(
            ("time_bounds", self.time_column),
            lambda: self._time_bounds_query(bounds_before or end),
            self._bounds(None, bounds_before or end),
        ).first()
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
