"""The evaluator of `kind: assets` monitors: bring the store's record of the dataset's files
up to date, then report on the files whose time falls in the window.

1. Walk the dataset (`detectors.assets.walk`); files new or changed since their record are
   read and decoded by bounded workers (`detectors.assets.pool`), BATCH at a time, each
   batch saved before the next is read (`asset_catalogue`), so a scan stopped half-way
   keeps its work and progress is logged as it goes.
2. A file's time is its modification time, or with `time_from: path` the first folder of
   its path written `name=<date or time>` (hive style, `date=2025-01-01/`), else its
   modification time.
   With `time_from: manifest`, the manifest's `time` column (else the modification time);
   a time the manifest changes for a file already recorded is updated at the next scan.
3. The window's records, the files sharing a content or perceptual hash with them and the
   near pairs of perceptual hashes (multi-index search over the dataset's distinct pHashes)
   go to `detectors.assets.detector`, with what the manifest (if any) says: the splits of
   those files, its rows whose file is missing and the window's files it does not list.
   The manifest itself is not one of the dataset's files when it lies in its folder.
4. With a `reference`, the window's files' properties are compared with the reference's
   (`asset_properties`: `asset_property_drift`).
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from daemon.config.models import AssetsMonitor
from daemon.scan.asset_catalogue import BATCH, AssetCatalogue
from daemon.scan.asset_properties import property_drift
from daemon.scan.evaluators import Evaluation, ScanContext, evaluator
from daemon.scan.windows import Window, current_window, reference_window
from detectors.assets.detector import MAX_LISTED, FileRecord, ManifestFacts, detect_assets
from detectors.assets.inspect import Limits
from detectors.assets.manifest import Manifest
from detectors.assets.near_duplicates import search
from detectors.assets.params import AssetParams
from detectors.assets.pool import Inspector, PoolLimits
from detectors.assets.walk import FoundFile, WalkProblem, walk_assets
from detectors.results import DetectorResult, Status
from detectors.timeparse import parse_instant
from detectors.versions.file_manifest import ManifestEntry, manifest_version

log = logging.getLogger(__name__)


@evaluator("assets")
def evaluate_assets(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, AssetsMonitor)
    dataset = context.config.datasets[monitor.dataset]
    assert dataset.path is not None  # a files dataset always has one (config)
    params = AssetParams.model_validate(monitor.model_dump(include=set(AssetParams.model_fields)))
    walk = walk_assets(dataset.path)
    window = current_window(monitor.dataset, context.at, monitor.window)
    with ExitStack() as stack:
        manifest = (
            stack.enter_context(Manifest(dataset.manifest, str(walk.root)))
            if dataset.manifest
            else None
        )
        files = _without_manifest(walk.files, walk.root, dataset.manifest)
        catalogue = AssetCatalogue(context.store, monitor.dataset)
        counts = _update_records(
            context, catalogue, walk.root, files, manifest, params, dataset.time_from or "mtime"
        )
        result, in_window = _report(catalogue, window, files, walk.problems, manifest, params)
    summary = {**result.summary, **counts}
    windows = {"current": window.to_dict()}
    if monitor.reference is not None and result.status in (Status.ok, Status.alert):
        reference = reference_window(monitor.dataset, monitor.reference, context.at)
        drift = property_drift(context.store, window, reference, monitor.drift)
        result = DetectorResult.from_findings([*result.findings, *drift.findings])
        summary["property_drift"] = drift.message or drift.status.value
        windows["reference"] = reference.to_dict()
    version = manifest_version(
        (ManifestEntry(f.path, f.size, f.mtime_ns, f.sha256) for f in in_window),
        windows={"current": [window.to_dict()["start"], window.to_dict()["end"]]},
    )
    return Evaluation(replace(result, summary=summary), windows, dataset_version=version)


def _update_records(
    context: ScanContext,
    catalogue: AssetCatalogue,
    root: Path,
    files: tuple[FoundFile, ...],
    manifest: Manifest | None,
    params: AssetParams,
    time_from: str,
) -> dict[str, int]:
    """Read the new and changed files, mark the gone ones, take the manifest's new times;
    the counts for the summary."""
    known = catalogue.known()
    stale = catalogue.to_read(files, known)
    _read(context, str(root), stale, catalogue, params, _Times(time_from, manifest))
    went = catalogue.mark_present((found.path for found in files), known, context.at)
    if manifest is not None and time_from == "manifest":
        catalogue.set_times(manifest.changed_times(*catalogue.recorded_times()))
    return {"read": len(stale), "gone": went, "walked": len(files)}


def _report(
    catalogue: AssetCatalogue,
    window: Window,
    files: tuple[FoundFile, ...],
    problems: tuple[WalkProblem, ...],
    manifest: Manifest | None,
    params: AssetParams,
) -> tuple[DetectorResult, list[FileRecord]]:
    """The findings about the window's files, with the files they copy; and those files."""
    assert window.start is not None and window.end is not None
    in_window = catalogue.in_window(window.start, window.end)
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
    facts = (
        None
        if manifest is None
        else ManifestFacts(
            manifest.splits({f.path for f in (*in_window, *related)}),
            manifest.missing([found.path for found in files], window.start, window.end, MAX_LISTED),
            manifest.unlisted([f.path for f in in_window], MAX_LISTED),
        )
    )
    return detect_assets(in_window, related, hash_pairs, problems, params, facts), in_window


def _without_manifest(
    files: tuple[FoundFile, ...], root: Path, manifest: str | None
) -> tuple[FoundFile, ...]:
    """The walk's files less the manifest itself, when it lies in the dataset's folder."""
    if not manifest:
        return files
    real = os.path.realpath(manifest)
    real_root = os.path.realpath(root)
    if os.path.commonpath([real, real_root]) != real_root:
        return files
    inside = Path(real).relative_to(real_root).as_posix()
    return tuple(found for found in files if found.path != inside)


class _Times:
    """A file's time, from `time_from`: its path, its modification time or the manifest."""

    def __init__(self, time_from: str, manifest: Manifest | None) -> None:
        self.time_from = time_from
        self.manifest = manifest

    def of(self, part: list[FoundFile]) -> dict[str, datetime]:
        listed = (
            self.manifest.times(found.path for found in part)
            if self.manifest is not None and self.time_from == "manifest"
            else {}
        )
        return {
            found.path: listed.get(found.path) or file_time(found, self.time_from) for found in part
        }


def _read(
    context: ScanContext,
    root: str,
    stale: list[FoundFile],
    catalogue: AssetCatalogue,
    params: AssetParams,
    times: _Times,
) -> None:
    """Read the stale files, BATCH at a time, saving each batch before the next."""
    limits = Limits(max_bytes=params.max_file_bytes, max_pixels=params.max_pixels)
    pool_limits = PoolLimits(
        workers=params.workers,
        worker_memory_bytes=params.worker_memory_mb * 1024 * 1024,
        seconds_per_file=params.seconds_per_file,
    )
    if not stale:
        return
    with Inspector(root, len(stale), limits, pool_limits) as inspector:
        for start in range(0, len(stale), BATCH):
            part = stale[start : start + BATCH]
            catalogue.save(inspector.inspect(part), times.of(part), context.at)
            log.info(
                "%s: %d of %d new or changed files checked",
                context.monitor.name,
                min(start + BATCH, len(stale)),
                len(stale),
                extra={"monitor": context.monitor.name},
            )


def file_time(found: FoundFile, time_from: str) -> datetime:
    """The file's time: with `path`, the first `name=<time>` folder that parses as a date or
    time (UTC); otherwise, or without one, its modification time (also for `manifest`, for
    a file the manifest gives no time)."""
    if time_from == "path":
        for part in PurePosixPath(found.path).parts[:-1]:
            _, equals, value = part.partition("=")
            if equals and value:
                try:
                    return parse_instant(value)
                except (ValueError, OverflowError):  # not a time, or one out of range
                    continue
    return datetime.fromtimestamp(found.mtime_ns / 1e9, UTC)
