"""Open configured datasets as detector sources."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from daemon.config.models import DatasetConfig
from detectors.plan_records import PlanArchive
from detectors.sources.base import DatasetSource
from detectors.sources.files import duckdb_connection, open_file_source

#: Environment variable overriding the embedded DuckDB's memory budget (e.g. "2GB").
MEMORY_LIMIT_VARIABLE = "WARDEN_DUCKDB_MEMORY_LIMIT"


def open_dataset(
    name: str,
    config: DatasetConfig,
    *,
    excluded_files: Iterable[str] = (),
    connection: Any | None = None,
    archive: PlanArchive | None = None,
    at: datetime | None = None,
) -> DatasetSource:
    """Open `name`; raises detectors.sources.SourceError with a person-readable message.

    With an `archive` (the store's, `daemon.scan.plan_archive`), a file dataset opened on
    its own connection may be reopened from an earlier process's record of it, without
    Ibis (`detectors.sources.recorded_files`), and its queries compiled then are reused.
    A Delta or Iceberg table is read as of `at` (time travel; its latest version without
    one); other datasets have only their present.
    """
    if config.format == "delta":
        from detectors.sources.delta import open_delta_source

        assert config.path is not None  # guaranteed by DatasetConfig validation
        return open_delta_source(
            name,
            path=config.path,
            time_column=config.time_column,
            time_format=config.time_format,
            entity_column=config.entity_column,
            at=at,
            memory_limit=os.environ.get(MEMORY_LIMIT_VARIABLE),
        )
    if config.format == "iceberg":
        from detectors.sources.iceberg import open_iceberg_source

        assert config.catalog is not None and config.table is not None
        return open_iceberg_source(
            name,
            catalog_uri=config.catalog.uri,
            catalog_name=config.catalog.name,
            table=config.table,
            time_column=config.time_column,
            time_format=config.time_format,
            entity_column=config.entity_column,
            at=at,
            memory_limit=os.environ.get(MEMORY_LIMIT_VARIABLE),
        )
    if config.format in ("parquet", "csv"):
        assert config.path is not None  # guaranteed by DatasetConfig validation
        return open_file_source(
            name,
            path=config.path,
            file_format=config.format,
            time_column=config.time_column,
            time_format=config.time_format,
            entity_column=config.entity_column,
            excluded=excluded_files,
            connection=connection,
            memory_limit=os.environ.get(MEMORY_LIMIT_VARIABLE),
            archive=archive,
        )
    if config.format == "spark":
        from detectors.sources.spark import open_spark_source

        return open_spark_source(
            name,
            time_column=config.time_column,
            time_format=config.time_format,
            table=config.table,
            path=config.path,
            master=config.url,
            conf=config.spark_conf,
            entity_column=config.entity_column,
            connection=connection,
        )
    assert config.url is not None and config.table is not None
    assert config.format == "postgres" or config.format == "duckdb", config.format
    from detectors.sources.sql import open_sql_source

    return open_sql_source(
        name,
        url=config.url,
        table=config.table,
        sql_format=config.format,
        time_column=config.time_column,
        time_format=config.time_format,
        entity_column=config.entity_column,
        connection=connection,
    )


def open_together(
    first: tuple[str, DatasetConfig],
    second: tuple[str, DatasetConfig],
    *,
    excluded_files: Iterable[str] = (),
    at: datetime | None = None,
) -> tuple[DatasetSource, DatasetSource, bool]:
    """Open two datasets, in one engine when they can share it (both file datasets, or two
    tables at the same URL), so that they can be joined there. The flag says whether they do.
    Delta and Iceberg tables are read as of `at`."""
    (first_name, first_config), (second_name, second_config) = first, second
    excluded = tuple(excluded_files)
    if first_config.is_file and second_config.is_file:
        shared = duckdb_connection(os.environ.get(MEMORY_LIMIT_VARIABLE))
        return (
            open_dataset(first_name, first_config, excluded_files=excluded, connection=shared),
            open_dataset(second_name, second_config, excluded_files=excluded, connection=shared),
            True,
        )
    left = open_dataset(first_name, first_config, excluded_files=excluded, at=at)
    # Two Spark datasets always share the process's one session; SQL tables share an engine
    # when they are in the same database.
    same_database = (
        not first_config.is_file
        and not first_config.is_versioned_table
        and (
            first_config.format == second_config.format == "spark"
            or (first_config.format, first_config.url) == (second_config.format, second_config.url)
        )
    )
    connection = left.table.get_backend() if same_database else None
    right = open_dataset(
        second_name, second_config, excluded_files=excluded, connection=connection, at=at
    )
    return left, right, same_database
