"""Which version of its dataset a scan read (`detectors.versions`), from what it opened.

- Delta and Iceberg: the version the source was opened at (`DatasetSource.version`).
- Parquet and CSV: a manifest of the files in the scan's windows. A Parquet file whose
  footer gives its time range is in a window when the range meets it; every other file
  (CSV, a footer without statistics, an unreadable file) may hold rows of any window and
  is listed. Quarantined files are not read, so they are not listed.
- Binary assets: the window's files (the evaluator builds the manifest, with their sha256).
- PostgreSQL, DuckDB tables and Spark: a fingerprint of the window the scan read new (the
  current one; a fixed reference is fingerprinted by its cached profile's signature
  instead, not read again each scan), computed in the engine.

Reading a version never fails a scan: a failure is reported beside the result
(`version_error`) and the scan's verdict stands.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from daemon.config.models import DatasetConfig
from detectors.sources.base import DatasetSource
from detectors.versions.base import DatasetVersion
from detectors.versions.file_manifest import manifest_version, stat_entry
from detectors.versions.sql_fingerprint import fingerprint_version, window_fingerprint

log = logging.getLogger(__name__)

#: The windows a scan reads new, by the name evaluators give them, in order of preference:
#: the window a SQL fingerprint covers.
NEW_WINDOWS = ("current", "serving", "timeline")


def read_version(
    dataset: str, config: DatasetConfig, source: DatasetSource, windows: dict[str, Any]
) -> DatasetVersion:
    """The version of `dataset` that `source` read for the scan's `windows` (the
    evaluation's, as `Window.to_dict` wrote them). Raises on a failure to read it."""
    if source.version is not None:
        return source.version
    mine = {
        name: (_instant(window.get("start")), _instant(window.get("end")))
        for name, window in windows.items()
        if isinstance(window, dict) and window.get("dataset") == dataset
    }
    if config.is_file:
        return _files_version(source, mine, parquet=config.format == "parquet")
    name = next((name for name in NEW_WINDOWS if name in mine), None)
    if name is None:
        raise ValueError(f"the scan read no window of {dataset!r} to fingerprint")
    start, end = mine[name]
    fingerprint = window_fingerprint(source.table, source.time_column, start, end)
    return fingerprint_version({name: fingerprint}, source.columns())


def _files_version(
    source: DatasetSource,
    windows: dict[str, tuple[datetime | None, datetime | None]],
    *,
    parquet: bool,
) -> DatasetVersion:
    ranges = {schema.path: schema for schema in source.file_schemas}
    chosen = []
    for path in source.files:
        schema = ranges.get(path)
        if schema is None or schema.start is None or schema.end is None:
            chosen.append(path)  # its time range is unknown: it may hold any window's rows
        elif any(schema.overlaps(start, end) for start, end in windows.values()):
            chosen.append(path)
    entries = [entry for path in chosen if (entry := stat_entry(path, parquet=parquet))]
    version = manifest_version(
        entries,
        windows={
            name: [s.isoformat() if s else None, e.isoformat() if e else None]
            for name, (s, e) in windows.items()
        },
        dataset_files=len(source.files),
    )
    return DatasetVersion(version.version, version.kind, version.details, source.columns())


def _instant(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None
