"""The evaluator of `kind: assets` monitors: bring the store's record of the dataset's files
up to date, then report on the files whose time falls in the window.

1. Walk the dataset (`detectors.assets.walk`); files new or changed since their record are
   read and decoded by bounded workers (`detectors.assets.pool`), BATCH at a time, each
   batch saved before the next is read (`asset_catalogue`), so a scan stopped half-way
   keeps its work and progress is logged as it goes.
2. A file's time is its modification time, or with `time_from: path` the first folder of
   its path written `name=<date or time>` (hive style, `date=2025-01-01/`), else its
   modification time.
3. The window's records, the files sharing a content or perceptual hash with them and the
   near pairs of perceptual hashes (multi-index search over the dataset's distinct pHashes)
   go to `detectors.assets.detector`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import PurePosixPath

from daemon.config.models import AssetsMonitor
from daemon.scan.asset_catalogue import BATCH, AssetCatalogue
from daemon.scan.evaluators import Evaluation, ScanContext, evaluator
from daemon.scan.windows import current_window
from daemon.store.asset_models import AssetRecord
from detectors.assets.detector import FileRecord, detect_assets
from detectors.assets.inspect import Limits
from detectors.assets.near_duplicates import search
from detectors.assets.params import AssetParams
from detectors.assets.pool import PoolLimits, inspect_files
from detectors.assets.walk import FoundFile, walk_assets
from detectors.timeparse import parse_instant

log = logging.getLogger(__name__)


@evaluator("assets")
def evaluate_assets(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, AssetsMonitor)
    dataset = context.config.datasets[monitor.dataset]
    assert dataset.path is not None  # a files dataset always has one (config)
    params = AssetParams.model_validate(monitor.model_dump(include=set(AssetParams.model_fields)))
    walk = walk_assets(dataset.path)
    catalogue = AssetCatalogue(context.store, monitor.dataset)
    known = catalogue.known()
    stale = catalogue.to_read(walk.files, known)
    _read(context, str(walk.root), stale, catalogue, params, dataset.time_from or "mtime")
    went = catalogue.mark_present((found.path for found in walk.files), known, context.at)
    window = current_window(monitor.dataset, context.at, monitor.window)
    assert window.start is not None and window.end is not None
    in_window = [_file(record) for record in catalogue.in_window(window.start, window.end)]
    probes = [f.phash for f in in_window if f.phash is not None and f.status == "ok"]
    hash_pairs = (
        search(probes, catalogue.perceptual_hashes(), max_distance=params.near_duplicate_distance)
        if probes
        else []
    )
    related = catalogue.with_hashes(
        (f.sha256 for f in in_window if f.sha256),
        [*probes, *(value for pair in hash_pairs for value in pair[:2])],
    )
    result = detect_assets(
        in_window, [_file(record) for record in related], hash_pairs, walk.problems, params
    )
    summary = {**result.summary, "read": len(stale), "gone": went, "walked": len(walk.files)}
    return Evaluation(replace(result, summary=summary), {"current": window.to_dict()})


def _read(
    context: ScanContext,
    root: str,
    stale: list[FoundFile],
    catalogue: AssetCatalogue,
    params: AssetParams,
    time_from: str,
) -> None:
    """Read the stale files, BATCH at a time, saving each batch before the next."""
    limits = Limits(max_bytes=params.max_file_bytes, max_pixels=params.max_pixels)
    pool_limits = PoolLimits(
        workers=params.workers,
        worker_memory_bytes=params.worker_memory_mb * 1024 * 1024,
        seconds_per_file=params.seconds_per_file,
    )
    for start in range(0, len(stale), BATCH):
        part = stale[start : start + BATCH]
        facts = inspect_files(root, part, limits, pool_limits)
        times = {found.path: file_time(found, time_from) for found in part}
        catalogue.save(facts, times, context.at)
        log.info(
            "%s: %d of %d new or changed files checked",
            context.monitor.name,
            min(start + BATCH, len(stale)),
            len(stale),
            extra={"monitor": context.monitor.name},
        )


def file_time(found: FoundFile, time_from: str) -> datetime:
    """The file's time: with `path`, the first `name=<time>` folder that parses as a date or
    time (UTC); otherwise, or without one, its modification time."""
    if time_from == "path":
        for part in PurePosixPath(found.path).parts[:-1]:
            _, equals, value = part.partition("=")
            if equals and value:
                try:
                    return parse_instant(value)
                except (ValueError, OverflowError):  # not a time, or one out of range
                    continue
    return datetime.fromtimestamp(found.mtime_ns / 1e9, UTC)


def _file(record: AssetRecord) -> FileRecord:
    return FileRecord(
        record.path,
        record.status,
        record.reason,
        record.sha256,
        record.size,
        record.phash,
        record.dhash,
        record.first_seen_at,
        record.mtime_ns,
    )
