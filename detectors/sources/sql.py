"""Tables in PostgreSQL or DuckDB databases, opened through Ibis."""

from __future__ import annotations

from typing import Any, Literal

import ibis

from detectors.sources.base import DatasetSource
from detectors.sources.errors import (
    SourceError,
    mask_password,
    missing_column_error,
    time_column_type_error,
)
from detectors.sources.quarantine_table import without_quarantined
from detectors.sources.text_times import with_parsed_times

SqlFormat = Literal["postgres", "duckdb"]


def open_sql_source(
    name: str,
    *,
    url: str,
    table: str,
    sql_format: SqlFormat,
    time_column: str,
    time_format: str | None = None,
    entity_column: str | None = None,
    connection: Any | None = None,
) -> DatasetSource:
    """Open `table` at `url` (postgresql://... or a DuckDB file path / duckdb://path).

    A text time column is read only with a `time_format`, parsed in the database on every
    row (no index on the column helps then; a timestamp column, or a view over the table
    that converts it, is faster on large tables).
    Pass the `connection` of another table at the same URL to open both in one engine.
    """
    if connection is None:
        connection = _connect(name, url, sql_format)
    try:
        schema_name, _, table_name = table.rpartition(".")
        expression = connection.table(table_name, database=schema_name or None)
    except Exception as error:
        raise SourceError(
            f"dataset {name!r}: table {table!r} cannot be opened: {error}", key="table"
        ) from error
    schema = expression.schema()
    columns = {column: str(dtype) for column, dtype in schema.items()}
    if time_column not in schema:
        raise missing_column_error(name, "time", time_column, columns, where=f"table {table!r}")
    time_type = schema[time_column]
    if time_type.is_string() and time_format is None:
        raise SourceError(
            f"dataset {name!r}: time column {time_column!r} is text; set `time_format` on the "
            'dataset to say how to read it (like time_format: "%Y-%m-%d %H:%M:%S"), or '
            f"convert it in a view over the table, e.g. `CAST({time_column} AS TIMESTAMPTZ)` "
            "for ISO 8601 text",
            key="time_column",
            columns=columns,
        )
    if time_type.is_string():
        expression = with_parsed_times(
            expression,
            dataset=name,
            time_column=time_column,
            time_format=time_format,
            columns=columns,
        )
    elif not (time_type.is_timestamp() or time_type.is_date()):
        # Windows are compared with the column as it is, so that the database can use an
        # index on it; text would need a cast on every row, and epoch numbers a guessed unit.
        raise time_column_type_error(
            name,
            time_column,
            str(time_type.copy(nullable=True)),
            accepted="a timestamp or a date",
            convert="convert epoch numbers or text in a view over the table, e.g. "
            f"`to_timestamp({time_column})` for epoch seconds or "
            f"`CAST({time_column} AS TIMESTAMPTZ)` for ISO 8601 text",
            columns=columns,
        )
    if entity_column and entity_column not in schema:
        raise missing_column_error(name, "entity", entity_column, columns, where=f"table {table!r}")
    spec = {"format": sql_format, "url": mask_password(url), "table": table}
    if time_format is not None and time_type.is_string():
        spec["time_format"] = time_format  # a changed format changes cached references
    return DatasetSource(
        name=name,
        table=without_quarantined(connection, expression, table, time_column),
        time_column=time_column,
        entity_column=entity_column,
        spec=spec,
    )


def _connect(name: str, url: str, sql_format: SqlFormat) -> Any:
    try:
        if sql_format == "postgres":
            return ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))
        return ibis.duckdb.connect(url.removeprefix("duckdb://"), read_only=True)
    except Exception as error:
        raise SourceError(
            f"dataset {name!r}: cannot connect to {mask_password(url)}: {error}", key="url"
        ) from error
