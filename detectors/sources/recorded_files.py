"""File datasets reopened from a record of an earlier opening, without Ibis.

Opening a file dataset reads every file's footer (`files.check_file`), asks DuckDB for the
files' schema, creates a view and builds an Ibis table on it; the scan's first query then
imports the whole expression layer (about half a second of a `warden scan` from cron) even
when every query it runs was compiled by an earlier process and kept in the store
(`detectors.plan_records`). So the first process to open a dataset on a given set of files
*records* the opening in the same archive: the `CREATE VIEW` statement, the table's column
types and its identity (`detectors.query_plans.table_identity`), the files found
unreadable and their footers' schemas. A later process that finds the same files (the same
paths, sizes in bytes and modification times in nanoseconds: one `stat` each) creates the
view on a plain DuckDB connection and hands the scan a source with no Ibis table: its
queries run from the archive, and the table is built on that same connection only if one
must be compiled after all.

A record is filed under its dataset's configuration (`Opening.group`) and named by its
files' state (`Opening.state_id`); recording a new state replaces the dataset's older ones,
so the store keeps one per dataset. A record that cannot be read back, or whose view DuckDB
refuses (a file vanished since its `stat`), is ignored: the dataset is opened as usual.
Datasets with so many files that their view statement exceeds `RECORD_LIMIT` are not
recorded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from detectors.column_types import ColumnType
from detectors.plan_records import PlanArchive, RecordedTable, code_version, digest
from detectors.sources.base import DatasetSource
from detectors.sources.errors import UnreadableFile
from detectors.sources.file_schemas import FileSchema

#: The longest view statement recorded, in characters (about 500 file paths).
RECORD_LIMIT = 64_000

#: (Ibis DuckDB backend on the connection, view name, DuckDB types) -> the Ibis table.
TableBuilder = Callable[[Any, str, dict[str, str]], Any]


@dataclass(frozen=True)
class Opening:
    """Which record an opening of a dataset may reuse or writes."""

    #: hash of the dataset's name and configuration: its records' group in the archive
    group: str
    #: hash of the group and every file's path, size and modification time
    state_id: str


def opening(
    name: str,
    *,
    path: str,
    file_format: str,
    time_column: str,
    time_format: str | None,
    entity_column: str | None,
    files: Sequence[str],
) -> Opening | None:
    """The opening of `name` on `files` (as discovered, excluded ones left out); None when
    a file cannot be `stat`ed (then nothing is reused or recorded)."""
    config = [name, path, file_format, time_column, time_format, entity_column]
    group = digest("file-source", json.dumps(config), code_version())
    states = []
    for file in files:
        try:
            status = os.stat(file)
        except OSError:
            return None
        states.append(f"{file}\0{status.st_size}\0{status.st_mtime_ns}")
    return Opening(group, digest(group, *states))


def reopen(
    archive: PlanArchive,
    opened: Opening,
    *,
    name: str,
    time_column: str,
    entity_column: str | None,
    connect: Callable[[], Any],
    build_table: TableBuilder,
) -> DatasetSource | None:
    """The dataset opened from its record, on a new connection from `connect` (a plain
    DuckDB connection); None when there is no usable record of these files."""
    record = archive.load(opened.group).get(opened.state_id)
    if record is None:
        return None
    try:
        parsed = _Parsed.of(record)
    except (KeyError, TypeError, ValueError):
        return None
    connection = connect()
    try:
        connection.execute(parsed.statement)
    except Exception:  # noqa: BLE001 - any failure: the dataset is opened as usual
        connection.close()
        return None
    backend: list[Any] = []

    def open_table() -> Any:
        import ibis

        if not backend:
            backend.append(ibis.duckdb.from_connection(connection))
        return build_table(backend[0], parsed.view, parsed.duckdb_types)

    recorded = RecordedTable("duckdb", parsed.identity_id, connection, open_table)
    return DatasetSource(
        name,
        time_column=time_column,
        entity_column=entity_column,
        spec=parsed.spec,
        unreadable=parsed.unreadable,
        file_schemas=parsed.file_schemas,
        plan_archive=archive,
        recorded=recorded,
        types=parsed.types,
    )


def record(
    archive: PlanArchive,
    opened: Opening,
    source: DatasetSource,
    *,
    statement: str,
    view: str,
    duckdb_types: dict[str, str],
) -> None:
    """Keep how `source` was opened (with the view `statement`), replacing the dataset's
    older records (written with the archive's next flush)."""
    if len(statement) > RECORD_LIMIT:
        return
    # The source's own plans and types: what its scan computes anyway, not a second
    # compile of the table.
    identity_id = source.plans.identity_id
    types = source.types
    archive.save(
        opened.group,
        opened.state_id,
        {
            "kind": "file-source",
            "statement": statement,
            "view": view,
            "duckdb_types": [[column, kind] for column, kind in duckdb_types.items()],
            "types": [[column, value.to_record()] for column, value in types.items()],
            "identity_id": identity_id,
            "spec": source.spec,
            "unreadable": [[item.path, item.reason] for item in source.unreadable],
            "file_schemas": [schema.to_record() for schema in source.file_schemas],
        },
        replace=True,
    )


@dataclass(frozen=True)
class _Parsed:
    statement: str
    view: str
    duckdb_types: dict[str, str]
    types: dict[str, ColumnType]
    identity_id: str
    spec: dict[str, Any]
    unreadable: list[UnreadableFile]
    file_schemas: list[FileSchema]

    @classmethod
    def of(cls, record: dict[str, Any]) -> _Parsed:
        """Raises KeyError, TypeError or ValueError for anything `record` did not write."""
        if record.get("kind") != "file-source":
            raise ValueError("not a file source record")
        texts = [record["statement"], record["view"], record["identity_id"]]
        if not all(isinstance(text, str) for text in texts) or not isinstance(record["spec"], dict):
            raise ValueError("not a file source record")
        duckdb_types = {str(column): str(kind) for column, kind in record["duckdb_types"]}
        types = {str(c): ColumnType.from_record(value) for c, value in record["types"]}
        if not types:
            raise ValueError("a file source record without columns")
        return cls(
            statement=record["statement"],
            view=record["view"],
            duckdb_types=duckdb_types,
            types=types,
            identity_id=record["identity_id"],
            spec=dict(record["spec"]),
            unreadable=[UnreadableFile(str(p), str(r)) for p, r in record["unreadable"]],
            file_schemas=[FileSchema.from_record(item) for item in record["file_schemas"]],
        )
