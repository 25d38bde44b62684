"""Delta Lake tables (`format: delta`), read through `deltalake` into DuckDB.

DuckDB's own `delta` extension cannot be downloaded where Warden runs offline, so the
table's version is opened with `deltalake` (which reads the transaction log) and handed to
DuckDB as an Arrow dataset: the same queries as on Parquet files then run on it, with
projection and filters pushed down to the Parquet reader, and partition values taken from
the log. The version read is the dataset's version (`detectors.versions`): its number, its
commit's time and operation, and its files.

Time travel: opened `at` a time, the table is read as of the last commit at or before it,
so a replay (`warden scan --at T`) sees what a scan at T saw. A commit's time, for time
travel, is its log file's modification time (Delta's rule for tables without in-commit
timestamps, and what `deltalake` does); the `timestamp` in the commit's own record, which
`history()` shows, is reported as `committed_at` but does not decide. A log copied
elsewhere has new modification times, so replays of it travel by the copy's times.
`deltalake` silently gives version 0 for a time before the first commit; that is refused
here instead.

Tables whose readers need deletion vectors or column mapping (written by Spark or
Databricks with those features on) are refused with a clear error: the Arrow dataset would
return deleted rows or physical column names.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError, first_line
from detectors.sources.table_formats import (
    did_not_exist,
    iso_ms,
    missing_extra,
    source_over_relation,
    utc_ms,
)
from detectors.versions.base import DatasetVersion, listed_files

#: Reader features whose rows or columns an Arrow dataset of the files would get wrong.
UNSUPPORTED_READER_FEATURES = ("deletionVectors", "columnMapping")


def open_delta_table(name: str, path: str, at: datetime | None = None) -> tuple[Any, int]:
    """The `DeltaTable` at `path` as of `at` (its latest version without one), and the
    table's latest version number."""
    try:
        from deltalake import DeltaTable
    except ImportError as error:
        raise missing_extra("Delta Lake", "delta", error) from error
    try:
        table = DeltaTable(path)
    except Exception as error:  # TableNotFoundError, a log that cannot be parsed...
        raise SourceError(
            f"dataset {name!r}: no Delta table can be read at {path!r}: {first_line(error)}",
            key="path",
        ) from error
    latest = int(table.version())
    if at is None:
        return table, latest
    try:
        table.load_as_version(at)
    except Exception as error:  # a version missing from the log, a vacuumed checkpoint
        raise SourceError(
            f"dataset {name!r}: the Delta table at {path!r} cannot be read as of "
            f"{at.isoformat()}: {first_line(error)}",
            key="path",
        ) from error
    resolved = int(table.version())
    committed = log_time_ms(path, resolved)
    if committed is None:  # not a local table: the commit's own record will have to do
        committed = commit_of(path, resolved, latest).get("timestamp")
    if committed is not None and committed > utc_ms(at):
        raise did_not_exist(name, f"the Delta table at {path!r}", at, iso_ms(committed))
    return table, latest


def log_time_ms(path: str, version: int) -> int | None:
    """The modification time of a local table's commit file for `version`, in ms since
    the epoch; None for a table elsewhere (an object store) or a commit file no longer
    there (log cleanup after a checkpoint)."""
    if "://" in path and not path.startswith("file://"):
        return None
    log = os.path.join(path.removeprefix("file://"), "_delta_log", f"{version:020d}.json")
    try:
        return os.stat(log).st_mtime_ns // 1_000_000
    except OSError:
        return None


def commit_of(path: str, version: int, latest: int) -> dict[str, Any]:
    """The commit that wrote `version` (its `history()` entry), read from the newest
    commit back to it; empty when the log no longer holds it."""
    from deltalake import DeltaTable

    for entry in DeltaTable(path).history(limit=latest - version + 1):
        if entry.get("version") == version:
            return dict(entry)
    return {}


def delta_version(path: str, table: Any, latest: int | None = None) -> DatasetVersion:
    """The version `table` is opened at: number, commit (time, operation, Warden's own
    metadata) and files (path relative to the table, bytes, rows)."""
    import pyarrow as pa

    number = table.version()
    commit = commit_of(path, number, latest if latest is not None else number)
    actions = pa.table(table.get_add_actions(flatten=False))
    files = [
        {"path": row["path"], "size": row["size_bytes"], "rows": row["num_records"]}
        for row in actions.select(["path", "size_bytes", "num_records"]).to_pylist()
    ]
    files.sort(key=lambda item: item["path"])
    return DatasetVersion(
        str(number),
        "delta",
        {
            "table_version": number,
            "committed_at": iso_ms(commit.get("timestamp")),
            "operation": commit.get("operation"),
            "warden": {k: v for k, v in commit.items() if str(k).startswith("warden.")},
            "file_count": len(files),
            "rows": sum(int(item["rows"] or 0) for item in files),
            "bytes": sum(int(item["size"] or 0) for item in files),
            **listed_files(files),
        },
    )


def open_delta_source(
    name: str,
    *,
    path: str,
    time_column: str,
    time_format: str | None = None,
    entity_column: str | None = None,
    at: datetime | None = None,
    memory_limit: str | None = None,
) -> DatasetSource:
    """Open the Delta table at `path` as of `at` (latest without one) in a new DuckDB."""
    table, latest = open_delta_table(name, path, at)
    features = set(table.protocol().reader_features or [])
    unsupported = sorted(features.intersection(UNSUPPORTED_READER_FEATURES))
    if unsupported:
        raise SourceError(
            f"dataset {name!r}: the Delta table at {path!r} uses {', '.join(unsupported)}, "
            "which Warden does not read yet (its files alone would give deleted rows or "
            "physical column names); read it through Spark (`format: spark`) instead",
            key="path",
        )
    version = delta_version(path, table, latest)
    relation = "delta_table"  # a DuckDB of its own: one name will do
    return source_over_relation(
        name,
        location=path,
        register={relation: table.to_pyarrow_dataset()},
        reader=relation,
        time_column=time_column,
        time_format=time_format,
        entity_column=entity_column,
        spec={"format": "delta", "path": path},
        version=version,
        memory_limit=memory_limit,
    )
