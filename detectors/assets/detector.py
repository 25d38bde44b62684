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

A window with no file is `insufficient_data`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def detect_assets(
    window: Sequence[FileRecord],
    related: Iterable[FileRecord],
    hash_pairs: Iterable[tuple[int, int, int]],
    problems: Sequence[WalkProblem],
    params: AssetParams,
) -> DetectorResult:
    summary = {"files": len(window), "walk_problems": len(problems)}
    if not window:
        return DetectorResult.insufficient(
            "no file of the dataset has its time in the window", summary
        )
    everyone = {record.path: record for record in (*window, *related)}
    findings = [
        *_corrupt(window),
        *_unreadable(window, problems),
        *_duplicates(window, everyone.values()),
        *_near_duplicates(window, everyone.values(), hash_pairs, params),
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


def _duplicates(window: Sequence[FileRecord], everyone: Iterable[FileRecord]) -> list[Finding]:
    first_of: dict[str, FileRecord] = {}
    for record in everyone:
        if record.sha256 and record.size > 0:
            seen = first_of.get(record.sha256)
            if seen is None or record.order < seen.order:
                first_of[record.sha256] = record
    pairs = []
    for record in window:
        original = first_of.get(record.sha256 or "") if record.size > 0 else None
        if original is not None and original.path != record.path:
            pairs.append({"path": record.path, "original": original.path})
    if not pairs:
        return []
    return [
        Finding(
            "duplicate_asset", None, "sha256", len(pairs), 0, True, details=_listed("pairs", pairs)
        )
    ]


def _near_duplicates(
    window: Sequence[FileRecord],
    everyone: Iterable[FileRecord],
    hash_pairs: Iterable[tuple[int, int, int]],
    params: AssetParams,
) -> list[Finding]:
    by_hash: dict[int, list[FileRecord]] = {}
    for record in everyone:
        if record.phash is not None and record.status == "ok":
            by_hash.setdefault(record.phash, []).append(record)
    close: dict[int, set[int]] = {value: {value} for value in by_hash}  # distance 0 included
    for a, b, _ in hash_pairs:
        if a in close and b in close:
            close[a].add(b)
            close[b].add(a)
    pairs = []
    for record in window:
        if record.phash is None or record.dhash is None or record.status != "ok":
            continue
        earlier = [
            other
            for value in sorted(close.get(record.phash, ()))
            for other in by_hash[value]
            if other.order < record.order
            and other.sha256 != record.sha256
            and other.dhash is not None
            and hamming(other.dhash, record.dhash) <= params.near_duplicate_confirm
        ]
        if earlier:
            original = min(earlier, key=lambda other: other.order)
            pairs.append(
                {
                    "path": record.path,
                    "original": original.path,
                    "phash_distance": hamming(record.phash, original.phash or 0),
                    "dhash_distance": hamming(record.dhash, original.dhash or 0),
                }
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
