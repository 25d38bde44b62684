"""Data sources: open a dataset as an Ibis table and compute window aggregates on it."""

from __future__ import annotations

from detectors.sources.base import DatasetSource, SourceError, Timeline, UnreadableFile
from detectors.sources.files import open_file_source
from detectors.sources.sql import open_sql_source

__all__ = [
    "DatasetSource",
    "SourceError",
    "Timeline",
    "UnreadableFile",
    "open_file_source",
    "open_sql_source",
]
