"""Whether a monitor's data files changed while it was being scanned.

A file dataset is opened from the files found at the start of the scan, each checked first
(`detectors.sources.files.check_file`). A writer can still truncate, rewrite or remove one
of them between that check and the engine's read, and the query then fails as a whole.
The scanner compares the files' fingerprints (path, size in bytes, modification time in
nanoseconds) from before the scan with those after a failed one: when they differ, the
failure may be the change itself, and the scan is run once more on the files as they are
now. A file that is still unreadable then is reported as a `corrupt_partition` finding, as
any unreadable file is; a file that was replaced atomically is read whole.

SQL and Spark datasets have no files here: their fingerprint is empty and never differs.
"""

from __future__ import annotations

import os

from daemon.config.models import (
    DatasetConfig,
    DatasetReference,
    MonitorConfig,
    SkewMonitor,
    WardenConfig,
)
from detectors.sources.discovery import discover_files
from detectors.sources.errors import SourceError

#: path -> (size in bytes, modification time in nanoseconds); None for a file that
#: vanished between its discovery and its stat.
Fingerprints = dict[str, tuple[int, int] | None]


def monitor_datasets(monitor: MonitorConfig) -> list[str]:
    """The names of every dataset `monitor` reads: its own, a reference dataset, the
    offline side of a skew monitor."""
    names = [monitor.dataset]
    reference = getattr(monitor, "reference", None)
    if isinstance(reference, DatasetReference):
        names.append(reference.dataset)
    if isinstance(monitor, SkewMonitor):
        names.append(monitor.offline)
    return list(dict.fromkeys(names))


def file_fingerprints(config: WardenConfig, monitor: MonitorConfig) -> Fingerprints:
    """The fingerprints of the files of every file dataset `monitor` reads (one `stat` a
    file, no read). A dataset whose files cannot be found counts as having none: the scan
    itself reports that."""
    prints: Fingerprints = {}
    for name in monitor_datasets(monitor):
        dataset = config.datasets.get(name)
        if dataset is not None:
            prints.update(dataset_fingerprints(dataset))
    return prints


def dataset_fingerprints(dataset: DatasetConfig) -> Fingerprints:
    """The fingerprints of one dataset's files (empty for SQL and Spark datasets, and for a
    path that names no file: opening the dataset reports that)."""
    if not dataset.is_file or not dataset.path:
        return {}
    try:
        paths = discover_files(dataset.path, dataset.format)  # type: ignore[arg-type]
    except SourceError:
        return {}
    return {path: _fingerprint(path) for path in paths}


def _fingerprint(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns


def changed_paths(before: Fingerprints, after: Fingerprints) -> list[str]:
    """The paths added, removed or changed between two fingerprints, sorted."""
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
