"""File datasets kept open between a daemon's scans: a few DuckDB instances per dataset.

Opening a file dataset costs more than scanning a small window of it: a DuckDB instance,
each file's footer checked, a `DESCRIBE`, a view, Ibis reading the view's schema (about
50 ms on this project's machine). A daemon scans the same datasets every few minutes, so
`OpenSources` keeps each one open and hands it to the next scan when its files have not
changed since: the same paths with the same size and modification time
(`daemon.scan.file_changes.dataset_fingerprints`, one `stat` a file). When they changed
(a partition added, rewritten or removed), the dataset is opened again on the same DuckDB
instance, so its checks, schema and view follow the files. The view reads the files at
each query anyway; what is reused is the instance, what was learnt by opening, and each
query's SQL, built and compiled on a monitor's first scan (`detectors.query_plans`, shared
by every source of the dataset while its schema is unchanged).

One scan at a time uses an open instance (DuckDB connections are not shared between
threads here). Scans of one dataset running at once each get an instance of their own, up to
`PER_DATASET` kept per dataset; beyond it, or when a scan needs one of its datasets twice,
it opens a private one rather than wait: two scans each holding one dataset and waiting for
the other's can never block each other. Every instance's sources share their compiled
queries (`detectors.query_plans`), so a new instance compiles nothing already compiled.

A PostgreSQL dataset keeps its connection the same way (one per slot): each scan opens the
table on it again (a schema query of a millisecond, so a changed table is seen), but does
not connect anew. A connection that the server closed, or that a scan failed on, is
dropped, and the next scan connects again. Spark datasets share the process's one session
already; a DuckDB database file is opened by every scan (a connection kept open would hold
the file against its writers). `warden scan` from cron opens its datasets once per
process and does not use this.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import MEMORY_LIMIT_VARIABLE, open_dataset
from daemon.scan.file_changes import Fingerprints, dataset_fingerprints
from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError
from detectors.sources.files import duckdb_connection

log = logging.getLogger(__name__)

#: How many DuckDB instances a daemon keeps open at most; the least recently used one not
#: in use is closed beyond it. An idle instance with one view holds a few MB.
DEFAULT_CAPACITY = 256
#: Instances kept per dataset at most: scans of one dataset running at once each get one
#: (a tick starts many monitors of a dataset together), beyond it a private one.
PER_DATASET = 4
#: (dataset name, its config as JSON, excluded files, slot 0 .. per_dataset - 1)
_Key = tuple[str, str, tuple[str, ...], int]


@dataclass
class _OpenDataset:
    """One dataset's engine connection (a DuckDB instance, a PostgreSQL connection; None
    until the first scan of a PostgreSQL dataset connects), and the source opened on it
    for `fingerprints` (file datasets)."""

    connection: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    source: DatasetSource | None = None
    fingerprints: Fingerprints | None = None
    #: How many scans reused `source` as it was (the bench and the tests read it).
    reused: int = 0
    #: How many times `source` was opened on this instance.
    opened: int = 0
    #: Queries compiled ("misses") and run from kept plans ("hits") by sources opened on
    #: this instance, those no longer kept included.
    plans: Counter[str] = field(default_factory=Counter)


class OpenSources:
    """The file datasets one daemon keeps open, by name, config and excluded files."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, per_dataset: int = PER_DATASET) -> None:
        if capacity < 1 or per_dataset < 1:
            raise ValueError("capacity and per_dataset must be at least 1")
        self.capacity = capacity
        self.per_dataset = per_dataset
        self._entries: OrderedDict[_Key, _OpenDataset] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def lease(
        self,
        name: str,
        dataset: DatasetConfig,
        excluded_files: tuple[str, ...] = (),
        *,
        at: datetime | None = None,
    ) -> Iterator[DatasetSource]:
        """`name` opened for one scan: the kept one when its files are unchanged and no other
        scan holds it; else a private one (DuckDB, Spark, Delta and Iceberg datasets: always;
        the last two read as of `at`)."""
        kept = dataset.is_file or dataset.format == "postgres"
        key = (name, dataset.model_dump_json(), tuple(sorted(excluded_files)))
        entry = self._free_entry(key, with_duckdb=dataset.is_file) if kept else None
        if entry is None:
            yield open_dataset(name, dataset, excluded_files=excluded_files, at=at)
            return
        if not dataset.is_file:
            try:
                with self._on_kept_connection(entry, name, dataset) as source:
                    yield source
            finally:
                entry.lock.release()
                self._close_beyond_capacity()
            return
        try:
            prints = dataset_fingerprints(dataset)
            if entry.source is None or entry.fingerprints != prints:
                if entry.source is not None:
                    entry.plans.update(_plan_counts(entry.source))
                entry.source, entry.fingerprints = None, None
                entry.source = open_dataset(
                    name, dataset, excluded_files=excluded_files, connection=entry.connection
                )
                entry.fingerprints = prints
                entry.opened += 1
            else:
                entry.reused += 1
            yield entry.source
        finally:
            entry.lock.release()
            self._close_beyond_capacity()

    @contextmanager
    def _on_kept_connection(
        self, entry: _OpenDataset, name: str, dataset: DatasetConfig
    ) -> Iterator[DatasetSource]:
        """`name` opened on the entry's kept connection, or on a new one when there is none
        or the kept one fails to open it (the server closed it); a scan that fails drops
        the connection, so the next one connects again."""
        source = None
        if entry.connection is not None and not _closed(entry.connection):
            try:
                source = open_dataset(name, dataset, connection=entry.connection)
                entry.reused += 1
            except SourceError:  # a server restart, an idle timeout: connect again below
                log.info("the kept connection of %s failed; connecting again", name)
        if source is None:
            if entry.connection is not None:
                _disconnect(entry.connection, name)
                entry.connection = None
            source = open_dataset(name, dataset)
            entry.connection = source.table.get_backend()
            entry.opened += 1
        try:
            yield source
        except BaseException:
            if entry.connection is not None:
                _disconnect(entry.connection, name)
            entry.connection = None
            raise

    def stats(self) -> dict[str, int]:
        """Open datasets, how many scans opened or reused one, and how many queries were
        compiled or run again from their compiled SQL, summed over them."""
        with self._lock:
            entries = list(self._entries.values())
        plans = sum((e.plans + _plan_counts(e.source) for e in entries), Counter[str]())
        return {
            "open": len(entries),
            "opened": sum(e.opened for e in entries),
            "reused": sum(e.reused for e in entries),
            "compiled": plans["misses"],
            "compile_reused": plans["hits"],
        }

    def _free_entry(
        self, dataset: tuple[str, str, tuple[str, ...]], *, with_duckdb: bool
    ) -> _OpenDataset | None:
        """A kept instance of `dataset` that no scan holds, now held (its lock acquired);
        a new one (`with_duckdb`: on a new DuckDB instance) when all are held and fewer
        than `per_dataset` are kept; else None."""
        for slot in range(self.per_dataset):
            entry = self._entry((*dataset, slot), with_duckdb=with_duckdb)
            if entry.lock.acquire(blocking=False):
                return entry
        return None

    def _entry(self, key: _Key, *, with_duckdb: bool) -> _OpenDataset:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                connection = (
                    duckdb_connection(os.environ.get(MEMORY_LIMIT_VARIABLE))
                    if with_duckdb
                    else None
                )
                entry = _OpenDataset(connection)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            return entry

    def _close_beyond_capacity(self) -> None:
        with self._lock:
            surplus = list(self._entries)[: max(0, len(self._entries) - self.capacity)]
        for key in surplus:
            self._close(key)

    def _close(self, key: _Key) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.lock.acquire(blocking=False):
                return  # in use: closed later, when over capacity again
            del self._entries[key]
        try:
            if entry.connection is not None:
                _disconnect(entry.connection, key[0])
        finally:
            entry.lock.release()


def _closed(connection: Any) -> bool:
    """Whether a kept PostgreSQL connection can no longer be used (the server closed it, or
    a query failed on it): psycopg knows without asking the server."""
    raw = getattr(connection, "con", None)
    return bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def _disconnect(connection: Any, name: str) -> None:
    try:
        connection.disconnect()
    except Exception:  # closing is best effort: the connection is dropped either way
        log.debug("closing the connection of %s failed", name, exc_info=True)


def _plan_counts(source: DatasetSource | None) -> Counter[str]:
    if source is None:
        return Counter()
    stats = source.plan_counts()
    return Counter(hits=stats["hits"], misses=stats["misses"])
