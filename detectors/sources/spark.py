"""Datasets read by Apache Spark: a table in the Spark catalog, or Parquet files at a path.

The same profile queries as on DuckDB and PostgreSQL run here through Ibis's PySpark backend:
Spark computes the aggregates where the data lives (a local session, a standalone cluster,
or whatever master the URL names) and only one-row results come back. The session's time
zone is pinned to UTC, so naive timestamps hold UTC here as everywhere in Warden.

PySpark is an optional extra (`pip install 'ml-warden[spark]'`) and needs Java 17 or newer;
without either, opening a Spark dataset is a `SourceError` that says what to install, and
nothing else in Warden needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis

from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError

#: The master used when a Spark dataset names none: a local session on every core.
DEFAULT_MASTER = "local[*]"
#: Settings Warden applies unless the dataset's `spark_conf` says otherwise. The web UI is
#: off because a daemon has no use for it and it would take a port.
DEFAULT_CONF = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "8"}


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
            f"{_first_line(error)} (Spark needs Java 17 or newer on PATH or in JAVA_HOME)"
        ) from error
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return ibis.pyspark.connect(session)


def open_spark_source(
    name: str,
    *,
    time_column: str,
    table: str | None = None,
    path: str | None = None,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    entity_column: str | None = None,
    connection: Any | None = None,
) -> DatasetSource:
    """Open a catalog `table` (optionally `database.table`) or the Parquet files at `path`.

    Pass the `connection` of another Spark dataset to make clear they share one engine (they
    always do: the session is per process).
    """
    if (table is None) == (path is None):
        raise SourceError(f"dataset {name!r}: a Spark dataset takes one of `table` or `path`")
    backend = connection or spark_backend(master, conf)
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
        raise SourceError(
            f"dataset {name!r}: Spark cannot read {where}: {_first_line(error)}"
        ) from error
    schema = expression.schema()
    for role, column in (("time", time_column), ("entity", entity_column)):
        if column and column not in schema:
            raise SourceError(
                f"dataset {name!r}: {role} column {column!r} is not in the data; "
                f"columns are: {', '.join(schema.names)}"
            )
    if not schema[time_column].is_timestamp():
        # Text or dates: parsed by Spark in the session's time zone (UTC).
        expression = expression.mutate(**{time_column: expression[time_column].cast("timestamp")})
    spec = {"format": "spark", "master": master or DEFAULT_MASTER, "table": table, "path": path}
    return DatasetSource(
        name=name,
        table=expression,
        time_column=time_column,
        entity_column=entity_column,
        spec=spec,
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
