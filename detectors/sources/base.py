"""The source a detector reads: an Ibis table with an event-time column.

Every engine (DuckDB over files, PostgreSQL, DuckDB tables, Spark...) is reached through the
same `DatasetSource`; only how the table is opened differs (`files.py`, `sql.py`).

A file dataset that an earlier process opened on the same files is opened from its record
(`detectors.sources.recorded_files`): a DuckDB view, its column types and its table
identity, with no Ibis table yet. The table is built the first time something asks for it
(a query not compiled before, a playbook); a scan whose queries are all archived never
does, and never imports Ibis.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from detectors.column_types import ColumnType, column_types
from detectors.plan_records import PlanArchive, RecordedTable
from detectors.plan_store import QueryResult
from detectors.profile import WindowProfile
from detectors.profiling import ProfileOptions, profile_planned
from detectors.query_plans import QueryPlans
from detectors.sources.errors import UnreadableFile
from detectors.sources.file_schemas import FileSchema
from detectors.timeline import Timeline
from detectors.versions.base import DatasetVersion
from detectors.window_bounds import bound_names, bound_values

if TYPE_CHECKING:
    from ibis.expr.types import Table

#: Results a source remembers at most (`DatasetSource.remember`): a reference profile and
#: its window's signature for each of a few references; a rolling reference leaves one
#: behind every tick, so the least recently used go.
REMEMBERED = 16


class DatasetSource:
    """A dataset opened as an Ibis table (`table`), or from a record of an earlier opening
    (`recorded`, with its column `types`: the table is built when first asked for);
    `spec` identifies it for cache fingerprints."""

    def __init__(
        self,
        name: str,
        table: Table | None = None,
        *,
        time_column: str,
        entity_column: str | None = None,
        spec: dict[str, Any] | None = None,
        unreadable: list[UnreadableFile] | None = None,
        file_schemas: list[FileSchema] | None = None,
        plan_archive: PlanArchive | None = None,
        recorded: RecordedTable | None = None,
        types: dict[str, ColumnType] | None = None,
        files: list[str] | None = None,
        version: DatasetVersion | None = None,
    ) -> None:
        if (table is None) == (recorded is None):
            raise ValueError("a source is opened from a table or from a record, not both")
        if recorded is not None and types is None:
            raise ValueError("a source opened from a record needs its column types")
        self.name = name
        self.time_column = time_column
        self.entity_column = entity_column
        self.spec = spec if spec is not None else {}
        self.unreadable = unreadable if unreadable is not None else []
        #: Per-file footer schemas (Parquet datasets only), for per-partition schema checks.
        self.file_schemas = file_schemas if file_schemas is not None else []
        #: Every data file the source reads, unreadable ones included (file datasets only):
        #: what a scan's version manifest lists (`daemon.scan.versions`).
        self.files = files if files is not None else []
        #: The table version the source reads (Delta, Iceberg); None for datasets whose
        #: version the scan computes from what it read (files, SQL windows).
        self.version = version
        #: Where compiled queries outlive the process (`detectors.plan_records`); set before
        #: the first query (by the scan: the store's archive), or None to keep them in memory.
        self.plan_archive = plan_archive
        self._table = table
        self._recorded = recorded
        self._types = types
        self._plans: QueryPlans | None = None
        self._lock = threading.Lock()
        self._remembered: OrderedDict[Hashable, Any] = OrderedDict()

    def __repr__(self) -> str:
        return f"DatasetSource({self.name!r}, time_column={self.time_column!r}, spec={self.spec!r})"

    @property
    def table(self) -> Table:
        """The dataset as an Ibis table (a recorded source's is built now, once)."""
        if self._table is None:
            self._table = self.plans.table
        return self._table

    @property
    def recorded(self) -> bool:
        """Whether this source was opened from a record (`detectors.sources.recorded_files`)."""
        return self._recorded is not None

    @property
    def types(self) -> dict[str, ColumnType]:
        """Each column's type, in the table's order."""
        if self._types is None:
            self._types = column_types(self.table.schema())
        return self._types

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
        with self._lock:
            if self._plans is None:
                if self._recorded is not None:
                    self._plans = QueryPlans(recorded=self._recorded, archive=self.plan_archive)
                else:
                    self._plans = QueryPlans(self._table, archive=self.plan_archive)
            return self._plans

    def columns(self) -> dict[str, str]:
        """Column name -> engine type, as text."""
        return {name: column.dtype for name, column in self.types.items()}

    def default_columns(self) -> list[str]:
        """Columns monitored when a monitor names none: all but time, entity and temporal ones."""
        skip = {self.time_column, self.entity_column}
        return [
            name
            for name, column in self.types.items()
            if name not in skip and column.kind in ("numeric", "categorical")
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
        return profile_planned(
            self.plans,
            self.types,
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

    def window_query(
        self,
        key: Hashable,
        build: Callable[[Table], Table],
        start: datetime | None,
        end: datetime | None,
    ) -> QueryResult:
        """Run `build(rows of [start, end))` through the kept plans (`QueryPlans.rows`);
        `key` must name everything `build` depends on besides the table and which bounds
        are set (the caller's query kind and a digest of its coefficients)."""
        return self.plans.rows(
            ("window_query", self.time_column, key),
            lambda: build(self._window(start, end)),
            self._bounds(start, end),
        )

    def lower_bound_parameter(self) -> Any:
        """The bound parameter a window's lower bound is given as in `window_query`'s SQL
        (for queries that measure times from it, as `timeline` does)."""
        from detectors.profile_queries import NAMED_PARAMETERS

        return NAMED_PARAMETERS[bound_names(self.types[self.time_column].naive_time)[0]]

    def _bounds(self, start: datetime | None, end: datetime | None) -> dict[str, datetime]:
        return bound_values(self.types[self.time_column].naive_time, start, end)

    def _window(self, start: datetime | None, end: datetime | None) -> Table:
        """The rows between the bound parameters (`detectors.profile_queries`); only which
        of `start` and `end` are set shapes it, their values are bound when it runs."""
        from detectors.profile_queries import parametrised_window

        return parametrised_window(self.table, self.time_column, start, end)[0]

    def _signature_query(self, start: datetime | None, end: datetime | None) -> Table:
        window = self._window(start, end)
        time = window[self.time_column]
        return window.aggregate(n=window.count(), lo=time.min(), hi=time.max())

    def _bucket_query(self, start: datetime, end: datetime, seconds: int) -> Table:
        """Rows per `seconds` bucket, counted from the window's lower bound."""
        import ibis

        from detectors.profile_queries import NAMED_PARAMETERS

        window = self._window(start, end)
        low = NAMED_PARAMETERS[bound_names(self.types[self.time_column].naive_time)[0]]
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
