"""Parquet and CSV datasets through DuckDB: a file, a glob, or a (hive-partitioned) folder.

Each file is checked before the engine sees it (a Parquet footer read, or a CSV header), so a
corrupt partition becomes an `UnreadableFile` (reported as a `corrupt_partition` finding)
instead of failing the whole scan. Files listed in `excluded` (quarantined by a playbook) are
left out of every read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.plan_records import PlanArchive
from detectors.sources import recorded_files
from detectors.sources.base import DatasetSource
from detectors.sources.discovery import FileFormat, discover_files
from detectors.sources.errors import (
    SourceError,
    UnreadableFile,
    missing_column_error,
    time_column_type_error,
)
from detectors.sources.file_schemas import FileSchema, read_parquet_schema

if TYPE_CHECKING:
    from ibis.expr.types import Table


def check_file(
    path: str, file_format: FileFormat, time_column: str, schemas: list[FileSchema]
) -> str | None:
    """Why a file cannot be read, or None when it looks sound (cheap: footer or first line).

    A sound Parquet file's footer schema and time range are appended to `schemas`.
    """
    try:
        if file_format == "parquet":
            schemas.append(read_parquet_schema(path, time_column))
        else:
            with open(path, "rb") as handle:
                first = handle.readline()
            if not first.strip():
                return "empty file or no header line"
    except Exception as error:  # noqa: BLE001 - any read failure means the file is unreadable
        return f"{type(error).__name__}: {error}"
    return None


#: DuckDB's memory budget for one scan (it spills to disk beyond it). DuckDB's own default is
#: 80% of RAM; with 512 MB a 10M-row window profiles at 0.8 GB peak RSS instead of 2.8 GB,
#: about 20% slower.
DEFAULT_MEMORY_LIMIT = "512MB"


def duckdb_connection(memory_limit: str | None = None) -> Any:
    """An in-memory DuckDB for file datasets, as an Ibis backend (`raw_duckdb_connection`
    inside)."""
    import ibis

    return ibis.duckdb.from_connection(raw_duckdb_connection(memory_limit))


def raw_duckdb_connection(memory_limit: str | None = None) -> Any:
    """An in-memory DuckDB for file datasets: UTC session time zone, a memory budget, and no
    promise to keep insertion order (aggregates then stream instead of buffering).

    Parquet prefetching is off: it reads every projected column of a row group into one
    block before scanning (112 MB for 14 double columns of a 1M-row group), which pays off
    on object stores but only costs memory on local files; without it a 1M-row scan peaks
    about 120 MB lower and runs no slower. Python variables are never read as tables (as
    Ibis sets it), so a connection behaves alike with or without Ibis around it.
    """
    import duckdb

    connection = duckdb.connect()
    limit = (memory_limit or DEFAULT_MEMORY_LIMIT).replace("'", "")
    for statement in (
        "SET TimeZone = 'UTC'",
        "SET preserve_insertion_order = false",
        "SET disable_parquet_prefetching = true",
        "SET python_enable_replacements = false",
        f"SET memory_limit = '{limit}'",
    ):
        connection.execute(statement)
    return connection


#: DuckDB time types that Ibis reads as timestamps without a cast (a nanosecond time zone
#: type, for one, it does not know).
_UNCAST_TIME_TYPES = frozenset(
    {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"}
)


def _is_time_type(duckdb_type: str) -> bool:
    """Whether DuckDB can cut windows on a column of this type: any timestamp, a date (a hive
    partition such as `date=2025-01-01` too), or text, parsed with the dataset's
    `time_format` or as ISO 8601. Numbers and times of day are not."""
    return duckdb_type.startswith("TIMESTAMP") or duckdb_type in ("DATE", "VARCHAR")


def _select_with_time(reader: str, time_column: str, types: dict[str, str]) -> str:
    """SELECT the files with the time column as a timestamp (text: as it is, for
    `with_parsed_times` to parse).

    A timestamp column is kept as it is (naive ones hold UTC), so that window filters reach
    the Parquet reader and skip row groups by their statistics; dates are cast.
    """
    if types[time_column] in _UNCAST_TIME_TYPES or types[time_column] == "VARCHAR":
        return f"SELECT * FROM {reader}"
    quoted = '"' + time_column.replace('"', '""') + '"'
    return f"SELECT * REPLACE (CAST({quoted} AS TIMESTAMPTZ) AS {quoted}) FROM {reader}"


def _view_name(dataset: str) -> str:
    return "dataset_" + "".join(ch if ch.isalnum() else "_" for ch in dataset)


def _is_hive(paths: Iterable[str]) -> bool:
    return any("=" in part for p in paths for part in Path(p).parent.parts)


def _hive_keys(paths: Iterable[str]) -> set[str]:
    """The partition keys in the paths' folders (`date` for `.../date=2025-01-01/x.csv`)."""
    return {part.split("=", 1)[0] for p in paths for part in Path(p).parent.parts if "=" in part}


def _reader(
    paths: list[str], file_format: FileFormat, hive: str, *, text_column: str | None = None
) -> str:
    """The DuckDB table function reading `paths`; `text_column` (CSV only) is read as text."""
    if file_format == "parquet":
        return f"read_parquet({_sql_list(paths)}, hive_partitioning = {hive}, union_by_name = true)"
    types = ""
    if text_column is not None:
        types = ", types = {" + _sql_text(text_column) + ": 'VARCHAR'}"
    return (
        f"read_csv({_sql_list(paths)}, hive_partitioning = {hive}, union_by_name = true, "
        f"header = true{types})"
    )


def _describe(connection: Any, reader: str, name: str, path: str) -> dict[str, str]:
    """Column name -> DuckDB type (upper case), from the files' schemas (CSV: sniffed)."""
    try:
        described = connection.raw_sql(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except Exception as error:
        raise SourceError(
            f"dataset {name!r}: DuckDB cannot read {path!r}: {error}", key="path"
        ) from error
    return {row[0]: str(row[1]).upper() for row in described}


def _lower(types: dict[str, str]) -> dict[str, str]:
    return {column: type_name.lower() for column, type_name in types.items()}


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join(_sql_text(p) for p in paths) + "]"


def open_file_source(
    name: str,
    *,
    path: str,
    file_format: FileFormat,
    time_column: str,
    time_format: str | None = None,
    entity_column: str | None = None,
    excluded: Iterable[str] = (),
    connection: Any | None = None,
    memory_limit: str | None = None,
    archive: PlanArchive | None = None,
) -> DatasetSource:
    """Open a file dataset in an in-memory DuckDB, as a view with the time column in UTC.

    A text time column (any CSV's, whose format DuckDB would otherwise guess) is parsed with
    `time_format`, or as ISO 8601 without one (`detectors.sources.text_times`).
    Pass `connection` (from `duckdb_connection()`) to open several datasets in one engine,
    so that they can be joined there (value skew); each gets its own view. Without one, a
    new DuckDB with `memory_limit` is used (`raw_duckdb_connection`).

    With an `archive` (and no `connection`), a dataset whose files are those an earlier
    opening recorded there is reopened from that record, without Ibis and without reading
    a footer (`detectors.sources.recorded_files`); an opening done anew is recorded.
    """
    skip = {str(Path(p).resolve()) for p in excluded}
    files = [p for p in discover_files(path, file_format) if p not in skip]
    opened = None
    if archive is not None and connection is None:
        opened = recorded_files.opening(
            name,
            path=path,
            file_format=file_format,
            time_column=time_column,
            time_format=time_format,
            entity_column=entity_column,
            files=files,
        )
    if opened is not None and archive is not None:
        reopened = recorded_files.reopen(
            archive,
            opened,
            name=name,
            time_column=time_column,
            entity_column=entity_column,
            connect=lambda: raw_duckdb_connection(memory_limit),
            build_table=lambda backend, view, types: _view_table(
                backend, view, name, time_column, time_format, types
            ),
        )
        if reopened is not None:
            reopened.files = files
            return reopened
    unreadable = []
    readable = []
    schemas: list[FileSchema] = []
    for file in files:
        problem = check_file(file, file_format, time_column, schemas)
        if problem is None:
            readable.append(file)
        else:
            unreadable.append(UnreadableFile(file, problem))
    if not readable:
        raise SourceError(
            f"dataset {name!r}: none of the {len(files)} files under {path!r} can be read"
            + (
                f" (first problem: {unreadable[0].path}: {unreadable[0].reason})"
                if unreadable
                else ""
            ),
            key="path",
        )
    connection = connection or duckdb_connection(memory_limit)
    hive = "true" if _is_hive(readable) else "false"
    reader = _reader(readable, file_format, hive)
    # DuckDB guesses the format of times in a CSV, and guesses day-first for `03/01/2025`:
    # read as text, the column is parsed as the config says instead.
    csv_reader = None
    if file_format == "csv" and time_column not in _hive_keys(readable):
        csv_reader = _reader(readable, file_format, hive, text_column=time_column)
    table, types, statement, view = open_view(
        connection,
        reader,
        name=name,
        path=path,
        time_column=time_column,
        time_format=time_format,
        text_time_reader=csv_reader,
    )
    if entity_column and entity_column not in types:
        raise missing_column_error(name, "entity", entity_column, _lower(types))
    spec: dict[str, Any] = {"format": file_format, "path": path, "files": len(readable)}
    if time_format is not None and types[time_column] == "VARCHAR":
        spec["time_format"] = time_format  # a changed format changes cached references
    source = DatasetSource(
        name,
        table,
        time_column=time_column,
        entity_column=entity_column,
        spec=spec,
        unreadable=unreadable,
        file_schemas=schemas,
        plan_archive=archive,
        files=files,
    )
    if opened is not None and archive is not None:
        recorded_files.record(
            archive, opened, source, statement=statement, view=view, duckdb_types=types
        )
    return source


def open_view(
    connection: Any,
    reader: str,
    *,
    name: str,
    path: str,
    time_column: str,
    time_format: str | None,
    text_time_reader: str | None = None,
) -> tuple[Table, dict[str, str], str, str]:
    """Create the dataset's view over `reader` (a DuckDB table function or relation) on an
    Ibis DuckDB `connection`, the time column in UTC; returns the Ibis table, the DuckDB
    column types, the `CREATE VIEW` statement and the view's name.

    `text_time_reader`, when given, is the same files read with the time column as text: it
    is used instead when the column is a time or a `time_format` is set (a CSV's times,
    which DuckDB would otherwise guess). Raises `SourceError` for a missing time column or
    one that is not a time.
    """
    types = _describe(connection, reader, name, path)
    if time_column not in types:
        raise missing_column_error(name, "time", time_column, _lower(types))
    if text_time_reader is not None and (
        time_format is not None or _is_time_type(types[time_column])
    ):
        reader = text_time_reader
        types[time_column] = "VARCHAR"
    if not _is_time_type(types[time_column]):
        raise time_column_type_error(
            name,
            time_column,
            types[time_column].lower(),
            accepted="a timestamp, a date, or text in ISO 8601",
            convert="epoch numbers are not read as times: write them as timestamps, e.g. "
            f'with pandas `pd.to_datetime(df["{time_column}"], unit="s")` for seconds',
            columns=_lower(types),
        )
    view = _view_name(name)
    statement = f"CREATE OR REPLACE VIEW {view} AS {_select_with_time(reader, time_column, types)}"
    connection.raw_sql(statement)
    table = _view_table(connection, view, name, time_column, time_format, types)
    return table, types, statement, view


def _view_table(
    backend: Any,
    view: str,
    name: str,
    time_column: str,
    time_format: str | None,
    types: dict[str, str],
) -> Table:
    """The dataset's view as an Ibis table on `backend`, a text time column parsed."""
    table = backend.table(view)
    if types[time_column] != "VARCHAR":
        return table
    from detectors.sources.text_times import with_parsed_times

    return with_parsed_times(
        table, dataset=name, time_column=time_column, time_format=time_format, columns=_lower(types)
    )
