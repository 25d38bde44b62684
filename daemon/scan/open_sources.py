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

SQL and Spark datasets are opened by every scan as before (their engines keep their own
connection pools and sessions). `warden scan` from cron opens its datasets once per
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
from typing import Any

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import MEMORY_LIMIT_VARIABLE, open_dataset
from daemon.scan.file_changes import Fingerprints, dataset_fingerprints
from detectors.sources.base import DatasetSource
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
    """One dataset's DuckDB instance, and the source opened on it for `fingerprints`."""

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
        self, name: str, dataset: DatasetConfig, excluded_files: tuple[str, ...] = ()
    ) -> Iterator[DatasetSource]:
        """`name` opened for one scan: the kept one when its files are unchanged and no other
        scan holds it; else a private one (SQL and Spark datasets: always)."""
        if not dataset.is_file:
            yield open_dataset(name, dataset, excluded_files=excluded_files)
            return
        entry = self._free_entry((name, dataset.model_dump_json(), tuple(sorted(excluded_files))))
        if entry is None:
            yield open_dataset(name, dataset, excluded_files=excluded_files)
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

    def _free_entry(self, dataset: tuple[str, str, tuple[str, ...]]) -> _OpenDataset | None:
        """A kept instance of `dataset` that no scan holds, now held (its lock acquired);
        a new one when all are held and fewer than `per_dataset` are kept; else None."""
        for slot in range(self.per_dataset):
            entry = self._entry((*dataset, slot))
            if entry.lock.acquire(blocking=False):
                return entry
        return None

    def _entry(self, key: _Key) -> _OpenDataset:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                connection = duckdb_connection(os.environ.get(MEMORY_LIMIT_VARIABLE))
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
            entry.connection.disconnect()
        except Exception:  # closing is best effort: the instance is dropped either way
            log.debug("closing the DuckDB instance of %s failed", key[0], exc_info=True)
        finally:
            entry.lock.release()


def _plan_counts(source: DatasetSource | None) -> Counter[str]:
    if source is None:
        return Counter()
    stats = source.plan_counts()
    return Counter(hits=stats["hits"], misses=stats["misses"])
