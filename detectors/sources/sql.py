"""Tables in PostgreSQL or DuckDB databases, opened through Ibis."""

from __future__ import annotations

from typing import Any, Literal

import ibis

from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError, time_column_type_error
from detectors.sources.quarantine_table import without_quarantined

SqlFormat = Literal["postgres", "duckdb"]


def open_sql_source(
    name: str,
    *,
    url: str,
    table: str,
    sql_format: SqlFormat,
    time_column: str,
    entity_column: str | None = None,
    connection: Any | None = None,
) -> DatasetSource:
    """Open `table` at `url` (postgresql://... or a DuckDB file path / duckdb://path).

    Pass the `connection` of another table at the same URL to open both in one engine.
    """
    if connection is None:
        connection = _connect(name, url, sql_format)
    try:
        schema_name, _, table_name = table.rpartition(".")
        expression = connection.table(table_name, database=schema_name or None)
    except Exception as error:
        raise SourceError(f"dataset {name!r}: table {table!r} cannot be opened: {error}") from error
    schema = expression.schema()
    for role, column in (("time", time_column), ("entity", entity_column)):
        if column and column not in schema:
            raise SourceError(
                f"dataset {name!r}: {role} column {column!r} is not in table {table!r}; "
                f"columns are: {', '.join(schema.names)}"
            )
    time_type = schema[time_column]
    if not (time_type.is_timestamp() or time_type.is_date()):
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
        )
    return DatasetSource(
        name=name,
        table=without_quarantined(connection, expression, table, time_column),
        time_column=time_column,
        entity_column=entity_column,
        spec={"format": sql_format, "url": _mask(url), "table": table},
    )


def _connect(name: str, url: str, sql_format: SqlFormat) -> Any:
    try:
        if sql_format == "postgres":
            return ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))
        return ibis.duckdb.connect(url.removeprefix("duckdb://"), read_only=True)
    except Exception as error:
        raise SourceError(f"dataset {name!r}: cannot connect to {_mask(url)}: {error}") from error


def _mask(url: str) -> str:
    """The URL with any password replaced, safe to print."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
