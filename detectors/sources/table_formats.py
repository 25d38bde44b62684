"""What the Delta Lake and Iceberg sources share: the optional import, the read through
DuckDB, and the time-travel refusal (light: the libraries are imported by the callers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError, missing_column_error
from detectors.sources.files import duckdb_connection, open_view
from detectors.versions.base import DatasetVersion


def missing_extra(fmt: str, extra: str, error: ImportError) -> SourceError:
    """The error for a table format whose library is not installed."""
    return SourceError(
        f"{fmt} datasets need the `{extra}` extra: install it with "
        f"`pip install 'ml-warden[{extra}]'` ({error})"
    )


def utc_ms(instant: datetime) -> int:
    """An instant as milliseconds since the epoch (naive means UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return int(instant.timestamp() * 1000)


def iso_ms(milliseconds: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC text."""
    if milliseconds is None:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).isoformat()


def did_not_exist(name: str, what: str, at: datetime, first: str | None) -> SourceError:
    """The error for `--at` a time before the table's first version (its readers would
    silently give the first version instead)."""
    since = f" (its earliest version readable was committed at {first})" if first else ""
    return SourceError(
        f"dataset {name!r}: {what} had no version at {at.isoformat()}{since}; scan a later time",
        key="path",
    )


def source_over_relation(
    name: str,
    *,
    location: str,
    register: dict[str, Any] | None,
    reader: str,
    time_column: str,
    time_format: str | None,
    entity_column: str | None,
    spec: dict[str, Any],
    version: DatasetVersion,
    memory_limit: str | None,
) -> DatasetSource:
    """A source over `reader` in a new in-memory DuckDB: `register` maps names to Arrow
    datasets made visible to it first (DuckDB scans them lazily, with projection and filter
    pushdown). The version's schema is filled from DuckDB's types."""
    connection = duckdb_connection(memory_limit)
    for relation_name, relation in (register or {}).items():
        connection.con.register(relation_name, relation)
    table, types, _statement, _view = open_view(
        connection,
        reader,
        name=name,
        path=location,
        time_column=time_column,
        time_format=time_format,
    )
    if entity_column and entity_column not in types:
        raise missing_column_error(name, "entity", entity_column, types)
    schema = {column: kind.lower() for column, kind in types.items()}
    return DatasetSource(
        name,
        table,
        time_column=time_column,
        entity_column=entity_column,
        spec=spec,
        version=DatasetVersion(version.version, version.kind, version.details, schema),
    )
