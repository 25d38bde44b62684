"""Open a configured dataset as a detector source."""

from __future__ import annotations

from collections.abc import Iterable

from daemon.config.models import DatasetConfig
from detectors.sources.base import DatasetSource
from detectors.sources.files import open_file_source
from detectors.sources.sql import open_sql_source


def open_dataset(
    name: str, config: DatasetConfig, *, excluded_files: Iterable[str] = ()
) -> DatasetSource:
    """Open `name`; raises detectors.sources.SourceError with a person-readable message."""
    if config.format in ("parquet", "csv"):
        assert config.path is not None  # guaranteed by DatasetConfig validation
        return open_file_source(
            name,
            path=config.path,
            file_format=config.format,
            time_column=config.time_column,
            entity_column=config.entity_column,
            excluded=excluded_files,
        )
    assert config.url is not None and config.table is not None
    return open_sql_source(
        name,
        url=config.url,
        table=config.table,
        sql_format=config.format,
        time_column=config.time_column,
        entity_column=config.entity_column,
    )
