"""Datasets read by Apache Spark: a table in the Spark catalog, or Parquet files at a path.

The same profile queries as on DuckDB and PostgreSQL run here through Ibis's PySpark backend:
Spark computes the aggregates where the data lives (a local session, a standalone cluster,
or whatever master the URL names) and only one-row results come back. The session's time
zone is pinned to UTC, so naive timestamps hold UTC here as everywhere in Warden.

PySpark is an optional extra (`pip install 'ml-warden[spark]'`) and needs Java 17 or newer;
without either, opening a Spark dataset is a `SourceError` that says what to install, and
nothing else in Warden needs them.

Spark cannot read nanosecond Parquet timestamps, which pandas writes by default. Local files
are checked from their footers before Spark touches them, so the error names the files and
columns and Spark logs no failed task; elsewhere (`s3a://`, `hdfs://`) Spark's own error is
translated into the same advice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ibis
import pyarrow.parquet as pq

from detectors.sources.base import DatasetSource
from detectors.sources.discovery import discover_files
from detectors.sources.errors import (
    SourceError,
    first_line,
    missing_column_error,
    time_column_type_error,
)
from detectors.sources.text_times import with_parsed_times

#: The master used when a Spark dataset names none: a local session on every core.
DEFAULT_MASTER = "local[*]"
#: Settings Warden applies unless the dataset's `spark_conf` says otherwise. The web UI is
#: off because a daemon has no use for it and it would take a port. Logging starts at ERROR
#: and the console progress bar is off: WARN lines (a retried task with its Java stack trace,
#: the host's address) and progress bars are noise on a daemon's stderr, and the errors that
#: matter to a scan reach Warden as exceptions and become its messages.
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.log.level": "ERROR",
    "spark.ui.showConsoleProgress": "false",
}
#: The setting that makes Spark read nanosecond timestamps as plain numbers (nanoseconds).
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"


def spark_backend(master: str | None = None, conf: Mapping[str, str] | None = None) -> Any:
    """An Ibis PySpark backend on the process's Spark session, created on first use.

    Spark allows one session per process: later calls reuse it (its master and static
    settings are those of the first call), but the time zone is set to UTC every time.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SourceError(
            "Spark datasets need PySpark: install it with `pip install 'ml-warden[spark]'` "
            f"({error})"
        ) from error
    builder = SparkSession.builder.master(master or DEFAULT_MASTER).appName("warden")
    for key, value in {**DEFAULT_CONF, **dict(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:
        raise SourceError(
            f"Spark could not start with master {master or DEFAULT_MASTER!r}: "
            f"{first_line(error)} (Spark needs Java 17 or newer on PATH or in JAVA_HOME)",
            key="url",
        ) from error
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return ibis.pyspark.connect(session)


def open_spark_source(
    name: str,
    *,
    time_column: str,
    time_format: str | None = None,
    table: str | None = None,
    path: str | None = None,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    entity_column: str | None = None,
    connection: Any | None = None,
) -> DatasetSource:
    """Open a catalog `table` (optionally `database.table`) or the Parquet files at `path`.

    A text time column is parsed with `time_format`, or as ISO 8601 without one
    (`detectors.sources.text_times`).

    Pass the `connection` of another Spark dataset to make clear they share one engine (they
    always do: the session is per process).
    """
    if (table is None) == (path is None):
        raise SourceError(f"dataset {name!r}: a Spark dataset takes one of `table` or `path`")
    backend = connection or spark_backend(master, conf)
    nanos_as_long = _nanos_as_long(backend)
    if path is not None and not nanos_as_long:
        _check_no_nanosecond_files(name, path, time_column)
    try:
        if path is not None:
            view = "warden_" + "".join(ch if ch.isalnum() else "_" for ch in name)
            expression = backend.read_parquet(path, table_name=view)
        else:
            assert table is not None
            database, _, table_name = table.rpartition(".")
            expression = backend.table(table_name, database=database or None)
    except Exception as error:
        where = f"Parquet files at {path!r}" if path is not None else f"table {table!r}"
        reason = first_line(error)
        if "PARQUET_TYPE_ILLEGAL" in reason and "NANOS" in reason:
            fix = _nanosecond_fix(time_column)
            reason = (
                f"they store nanosecond timestamps, which it does not support ({reason}). {fix}"
            )
        raise SourceError(
            f"dataset {name!r}: Spark cannot read {where}: {reason}",
            key="path" if path is not None else "table",
        ) from error
    schema = expression.schema()
    columns = {column: str(dtype) for column, dtype in schema.items()}
    if time_column not in schema:
        raise missing_column_error(name, "time", time_column, columns)
    time_type = schema[time_column]
    if time_type.is_string():
        expression = with_parsed_times(
            expression,
            dataset=name,
            time_column=time_column,
            time_format=time_format,
            columns=columns,
        )
    elif time_type.is_date():
        # Parsed by Spark in the session's time zone (UTC).
        expression = expression.mutate(**{time_column: expression[time_column].cast("timestamp")})
    elif not time_type.is_timestamp():
        convert = (
            "epoch numbers are not read as times: convert them in a view or when writing, "
            f"e.g. `timestamp_seconds({time_column})` for epoch seconds"
        )
        if nanos_as_long and time_type.is_integer():
            convert = (
                f"{NANOS_AS_LONG}=true reads nanosecond timestamps as plain numbers. "
                + _nanosecond_fix(time_column)
            )
        raise time_column_type_error(
            name,
            time_column,
            str(time_type.copy(nullable=True)),
            accepted="a timestamp, a date, or text in ISO 8601",
            convert=convert,
            columns=columns,
        )
    if entity_column and entity_column not in schema:
        raise missing_column_error(name, "entity", entity_column, columns)
    spec = {"format": "spark", "master": master or DEFAULT_MASTER, "table": table, "path": path}
    if time_format is not None and time_type.is_string():
        spec["time_format"] = time_format  # a changed format changes cached references
    return DatasetSource(
        name=name,
        table=expression,
        time_column=time_column,
        entity_column=entity_column,
        spec=spec,
    )


def _nanosecond_fix(time_column: str) -> str:
    """How to make nanosecond timestamps readable by Spark."""
    return (
        "Rewrite the files with microsecond timestamps: pandas "
        '`df.to_parquet(path, coerce_timestamps="us")` or pyarrow '
        '`pq.write_table(table, path, coerce_timestamps="us")` (add '
        "`allow_truncated_timestamps=True` if values have sub-microsecond digits), or convert "
        f"them once in a Spark job: read them with {NANOS_AS_LONG}=true and write "
        f"`timestamp_micros({time_column} div 1000)` back"
    )


def _check_no_nanosecond_files(name: str, path: str, time_column: str) -> None:
    """Raise when local Parquet files at `path` store nanosecond timestamps, which Spark
    cannot read, before Spark fails on them with a failed task and its Java stack trace."""
    files = _local_parquet_files(path)
    found = {file: columns for file in files if (columns := _nanosecond_columns(file))}
    if not found:
        return
    first, columns = next(iter(found.items()))
    example = time_column if time_column in columns else columns[0]
    raise SourceError(
        f"dataset {name!r}: the Parquet files at {path!r} store nanosecond timestamps, which "
        f"Spark cannot read ({len(found)} of {len(files)} files; first {first}, "
        f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)}). "
        + _nanosecond_fix(example),
        key="path",
    )


def _local_parquet_files(path: str) -> list[str]:
    """The Parquet files that a local `path` names (a file, folder or glob), else none."""
    parts = urlsplit(path)
    if parts.scheme not in ("", "file"):
        return []  # s3a://, hdfs://...: only Spark reads those
    try:
        return discover_files(parts.path if parts.scheme else path, "parquet")
    except SourceError:
        return []  # Spark says what is wrong with the path


def _nanosecond_columns(path: str) -> list[str]:
    """The columns of a Parquet file stored as nanosecond timestamps, read from its footer.

    The Parquet types are read, not the Arrow ones: Arrow also shows legacy INT96 timestamps
    as nanoseconds, and Spark reads those.
    """
    try:
        schema = pq.read_metadata(path).schema
    except Exception:  # noqa: BLE001 - an unreadable file is Spark's to report
        return []
    columns = (schema.column(index) for index in range(len(schema)))
    return [
        column.path
        for column in columns
        if column.logical_type.type == "TIMESTAMP"
        and json.loads(column.logical_type.to_json()).get("timeUnit") == "nanoseconds"
    ]


def _nanos_as_long(backend: Any) -> bool:
    session = getattr(backend, "_session", None)
    if session is None:
        return False
    return str(session.conf.get(NANOS_AS_LONG, "false")).lower() == "true"
