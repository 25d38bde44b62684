"""Findings about the files of an asset dataset whose time falls in the window.

Inputs are the files' records (`FileRecord`: what a read found, from the store), the other
files sharing a content hash or a perceptual hash with them, the pairs of distinct pHash
values within the near-copy distance (`near_duplicates.search`), and what the walk could not
take as a file. Each finding names its files in `details.paths` (or `details.pairs`), at
most `MAX_LISTED` of them, with the full `count`:

- `corrupt_asset`: files in the window that do not decode, are empty, or are not the type
  their extension says (`reasons` maps each path to why);
- `unreadable_asset`: files that could not be read as they were (permission, too large,
  changed during the scan, a worker that timed out) and walk problems (links, FIFOs,
  unreadable folders); reported, never read through;
- `duplicate_asset`: a file of the window byte-identical (sha256) to an earlier file, each
  pair as (path, original). "Earlier" is first seen earlier, then (for files one scan found
  together) modified earlier, then the smaller path, so the copy and not the original is
  the one a quarantine moves. Empty files are corrupt, not
  duplicates of each other;
- `near_duplicate_asset`: an image of the window whose pHash is within
  `near_duplicate_distance` bits of an earlier image's and whose dHash is within
  `near_duplicate_confirm` bits, and which is not byte-identical to it; each pair with both
  distances.

With a manifest (`detectors.assets.manifest`):

- `split_leakage`: a file of the window that copies (byte-identical or near, as above) an
  earlier file the manifest puts in another split, paired with the earliest such file;
  each pair names both splits and whether it is `identical` or `near`;
- `missing_asset`: manifest rows whose file the folder does not hold (with a `time`
  column, the rows whose time falls in the window; without, every row);
- `unlisted_asset`: files of the window the manifest does not list.

A window with no file is `insufficient_data`, unless the manifest lists files for it that
are missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detectors.assets.manifest import Listing
from detectors.assets.params import AssetParams
from detectors.assets.walk import WalkProblem
from detectors.results import DetectorResult, Finding

#: Paths (or pairs) listed in one finding's details; `count` gives the whole number.
MAX_LISTED = 1000
_BITS = (1 << 64) - 1


@dataclass(frozen=True)
class FileRecord:
    path: str
    status: str
    reason: str | None
    sha256: str | None
    size: int
    phash: int | None
    dhash: int | None
    first_seen_at: datetime
    mtime_ns: int = 0

    @property
    def order(self) -> tuple[datetime, int, str]:
        """Which of two files came first: first seen by Warden, then (files found by the
        same scan) last modified, then path."""
        return (self.first_seen_at, self.mtime_ns, self.path)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes (signed or not)."""
    return ((a ^ b) & _BITS).bit_count()


@dataclass(frozen=True)
class ManifestFacts:
    """What the dataset's manifest says about the window: the split of each file it lists
    with one (for the window's files and those they pair with), and the paths the manifest
    and the folder disagree on."""

    splits: Mapping[str, str]
    missing: Listing
    unlisted: Listing


def detect_assets(
    window: Sequence[FileRecord],
    related: Iterable[FileRecord],
    hash_pairs: Iterable[tuple[int, int, int]],
    problems: Sequence[WalkProblem],
    params: AssetParams,
    manifest: ManifestFacts | None = None,
) -> DetectorResult:
    summary = {"files": len(window), "walk_problems": len(problems)}
    listed = _manifest_findings(manifest) if manifest else []
    if not window:
        if listed:  # the window's files are all missing: that is the finding
            return DetectorResult.from_findings(listed, summary=summary)
        return DetectorResult.insufficient(
            "no file of the dataset has its time in the window", summary
        )
    everyone = {record.path: record for record in (*window, *related)}
    copies = _Copies(everyone.values(), hash_pairs, params)
    findings = [
        *_corrupt(window),
        *_unreadable(window, problems),
        *_duplicates(window, copies),
        *_near_duplicates(window, copies, params),
        *(_leakage(window, copies, manifest.splits) if manifest else []),
        *listed,
    ]
    return DetectorResult.from_findings(findings, summary=summary)


def _listed(name: str, items: list[Any]) -> dict[str, Any]:
    return {name: items[:MAX_LISTED], "count": len(items)}


def _corrupt(window: Sequence[FileRecord]) -> list[Finding]:
    broken = [record for record in window if record.status == "corrupt"]
    if not broken:
        return []
    details = _listed("paths", [record.path for record in broken])
    details["reasons"] = {record.path: record.reason for record in broken[:MAX_LISTED]}
    return [Finding("corrupt_asset", None, "decode", len(broken), 0, True, details=details)]


def _unreadable(window: Sequence[FileRecord], problems: Sequence[WalkProblem]) -> list[Finding]:
    items = [(record.path, record.reason) for record in window if record.status == "unreadable"]
    items += [(problem.path, problem.reason) for problem in problems]
    if not items:
        return []
    details = _listed("paths", [path for path, _ in items])
    details["reasons"] = dict(items[:MAX_LISTED])
    return [Finding("unreadable_asset", None, "read", len(items), 0, True, details=details)]


class _Copies:
    """The earlier files each file is a copy of: byte-identical (same sha256, not empty)
    or near (pHash within the search's distance, dHash within `near_duplicate_confirm`,
    not byte-identical)."""

    def __init__(
        self,
        everyone: Iterable[FileRecord],
        hash_pairs: Iterable[tuple[int, int, int]],
        params: AssetParams,
    ) -> None:
        self.confirm = params.near_duplicate_confirm
        self.by_sha: dict[str, list[FileRecord]] = {}
        self.by_hash: dict[int, list[FileRecord]] = {}
        for record in everyone:
            if record.sha256 and record.size > 0:
                self.by_sha.setdefault(record.sha256, []).append(record)
            if record.phash is not None and record.status == "ok":
                self.by_hash.setdefault(record.phash, []).append(record)
        # Distance 0 included: files with one pHash are near each other.
        self.close: dict[int, set[int]] = {value: {value} for value in self.by_hash}
        for a, b, _ in hash_pairs:
            if a in self.close and b in self.close:
                self.close[a].add(b)
                self.close[b].add(a)

    def identical(self, record: FileRecord) -> list[FileRecord]:
        if not record.sha256 or record.size == 0:
            return []
        return [
            other
            for other in self.by_sha.get(record.sha256, ())
            if other.order < record.order and other.path != record.path
        ]

    def near(self, record: FileRecord) -> list[FileRecord]:
        if record.phash is None or record.dhash is None or record.status != "ok":
            return []
        return [
            other
            for value in sorted(self.close.get(record.phash, ()))
            for other in self.by_hash[value]
            if other.order < record.order
            and other.sha256 != record.sha256
            and other.dhash is not None
            and hamming(other.dhash, record.dhash) <= self.confirm
        ]


def _first(records: Iterable[FileRecord]) -> FileRecord | None:
    return min(records, key=lambda record: record.order, default=None)


def _distances(record: FileRecord, original: FileRecord) -> dict[str, int]:
    return {
        "phash_distance": hamming(record.phash or 0, original.phash or 0),
        "dhash_distance": hamming(record.dhash or 0, original.dhash or 0),
    }


def _duplicates(window: Sequence[FileRecord], copies: _Copies) -> list[Finding]:
    pairs = []
    for record in window:
        original = _first(copies.identical(record))
        if original is not None:
            pairs.append({"path": record.path, "original": original.path})
    if not pairs:
        return []
    return [
        Finding(
            "duplicate_asset", None, "sha256", len(pairs), 0, True, details=_listed("pairs", pairs)
        )
    ]


def _near_duplicates(
    window: Sequence[FileRecord], copies: _Copies, params: AssetParams
) -> list[Finding]:
    pairs = []
    for record in window:
        original = _first(copies.near(record))
        if original is not None:
            pairs.append(
                {"path": record.path, "original": original.path, **_distances(record, original)}
            )
    if not pairs:
        return []
    return [
        Finding(
            "near_duplicate_asset",
            None,
            "phash",
            len(pairs),
            params.near_duplicate_distance,
            True,
            details=_listed("pairs", pairs),
        )
    ]


def _leakage(
    window: Sequence[FileRecord], copies: _Copies, splits: Mapping[str, str]
) -> list[Finding]:
    """Each file of the window that copies (exactly or nearly) an earlier file of another
    split, paired with the earliest such file."""
    pairs = []
    for record in window:
        split = splits.get(record.path)
        if split is None:
            continue
        for kind, found in (("identical", copies.identical), ("near", copies.near)):
            original = _first(
                other for other in found(record) if splits.get(other.path, split) != split
            )
            if original is not None:
                pair = {
                    "path": record.path,
                    "original": original.path,
                    "split": split,
                    "original_split": splits[original.path],
                    "kind": kind,
                }
                pairs.append(
                    pair if kind == "identical" else {**pair, **_distances(record, original)}
                )
                break
    if not pairs:
        return []
    return [
        Finding(
            "split_leakage", None, "copies", len(pairs), 0, True, details=_listed("pairs", pairs)
        )
    ]


def _manifest_findings(manifest: ManifestFacts) -> list[Finding]:
    findings = []
    # Literal patterns: the registry test reads them from this source.
    if manifest.missing.count:
        findings.append(
            Finding(
                "missing_asset",
                None,
                "manifest",
                manifest.missing.count,
                0,
                True,
                details=_listing(manifest.missing),
            )
        )
    if manifest.unlisted.count:
        findings.append(
            Finding(
                "unlisted_asset",
                None,
                "manifest",
                manifest.unlisted.count,
                0,
                True,
                details=_listing(manifest.unlisted),
            )
        )
    return findings


def _listing(listing: Listing) -> dict[str, Any]:
    return {"paths": list(listing.paths), "count": listing.count}
