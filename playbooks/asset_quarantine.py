"""Which files of an asset dataset a quarantine moves, read from the incident's findings.

Asset findings name files by their path relative to the dataset's root
(`detectors.assets.detector`):

- `details.paths` (`corrupt_asset`, `unlisted_asset`): every listed file is moved;
- `details.pairs` (`duplicate_asset`, `near_duplicate_asset`, `split_leakage`): each pair
  is `{path, original}` with `path` the later copy. The copy is moved and the original
  stays. Near copies can chain (B is near A, C is near B but not near A): C's original is B,
  itself a copy. Moving both would take C's picture out of the dataset altogether, so the
  files are taken by their depth along the chain (an original that is no copy is depth 0,
  its copy 1, a copy of that 2...): odd depths move, even depths stay, and every moved file
  keeps the original it was paired with.

`unreadable_asset` is refused: Warden could not read those files, so it cannot checksum
them, and a link or a FIFO is not the dataset's data to move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from playbooks.base import IncidentView, Plan, PlanRefused, PlaybookContext, PlaybookParams
from playbooks.quarantine_moves import (
    files_plan,
    files_root,
    listing_cut,
    move_steps,
    quarantine_folder,
)

#: The patterns whose files a quarantine moves.
MOVABLE = (
    "corrupt_asset",
    "duplicate_asset",
    "near_duplicate_asset",
    "split_leakage",
    "unlisted_asset",
)
#: Patterns whose pairs are byte-identical (a `split_leakage` pair says so by its `kind`):
#: the original must still hold the same bytes.
IDENTICAL = ("duplicate_asset",)


@dataclass(frozen=True)
class AssetMove:
    """Move `path` (relative to the dataset's root); `keeps` is the original that stays
    in the dataset in its place (None for a broken file)."""

    path: str
    keeps: str | None = None
    #: The pair is byte-identical: the original must still hold the same bytes.
    identical: bool = False


def asset_moves(pattern: str, findings: Iterable[dict[str, Any]]) -> list[AssetMove]:
    """The files to move for an incident of `pattern`, by path; raises PlanRefused for a
    pattern whose files are not to be moved or a path that is not relative to the root."""
    if pattern not in MOVABLE:
        raise PlanRefused(
            f"{pattern} is not a problem of the files' content; quarantine moves the files "
            f"of {', '.join(MOVABLE)} incidents (fix permissions, sizes or links by hand)"
        )
    listed: list[str] = []
    copies: dict[str, str] = {}
    identical: set[str] = set()
    for finding in findings:
        if finding.get("pattern") != pattern:
            continue
        details = finding.get("details") or {}
        listed.extend(_relative(path) for path in details.get("paths") or ())
        for pair in details.get("pairs") or ():
            copy = _relative(pair["path"])
            copies[copy] = _relative(pair["original"])
            if pattern in IDENTICAL or pair.get("kind") == "identical":
                identical.add(copy)
    moves = [AssetMove(path) for path in dict.fromkeys(listed)]
    moves += [
        AssetMove(path, copies[path], path in identical)
        for path in sorted(copies)
        if _depth(path, copies) % 2 == 1 and path not in listed
    ]
    return sorted(moves, key=lambda move: move.path)


def plan_asset_quarantine(
    playbook: str,
    incident: IncidentView,
    params: PlaybookParams,
    context: PlaybookContext,
    max_files: int,
) -> Plan:
    """Move the files an asset incident names: broken files, and the later copy of each
    duplicate pair (never its original, which is checked to be still there); refused for
    more than `max_files` files."""
    dataset = context.dataset
    root = files_root(dataset)
    moves = asset_moves(incident.pattern, incident.findings)
    present, skipped = [], []
    for move in moves:
        path = root / move.path
        keeps = root / move.keeps if move.keeps else None
        if not (path.exists() or path.is_symlink()):
            skipped.append(f"{move.path} (no longer in the dataset)")
        elif keeps is not None and not keeps.exists():
            skipped.append(f"{move.path} (its original {move.keeps} is gone: kept)")
        else:
            present.append((path, keeps, move.identical))
    if not present:
        raise PlanRefused(
            f"none of the files incident {incident.id} names is still in dataset "
            f"{dataset.name!r}; nothing to quarantine"
            + (f" ({'; '.join(skipped[:5])})" if skipped else "")
        )
    if len(present) > max_files:
        raise PlanRefused(f"{len(present)} files are affected, more than max_files={max_files}")
    target = quarantine_folder(context, incident.id)
    steps, total = move_steps(present, root, target)
    kept = sum(1 for _, keeps, _ in present if keeps is not None)
    summary = (
        f"Move {len(present)} file(s), {total:,} bytes, of asset dataset {dataset.name!r} "
        f"into {target}"
        + (f" (the later copy of {kept} pair(s); each original stays)" if kept else "")
        + "."
    )
    if skipped:
        summary += f" Not moved: {'; '.join(skipped[:5])}" + (
            f" and {len(skipped) - 5} more." if len(skipped) > 5 else "."
        )
    listing = listing_cut(incident)
    if listing:
        summary += (
            f" The finding lists {listing[0]:,} of {listing[1]:,}; the rest are planned "
            "after the next scan."
        )
    return files_plan(playbook, incident.id, params, steps, target, summary)


def _depth(path: str, copies: dict[str, str]) -> int:
    """How many copy steps lead from `path` to an original that is no copy."""
    depth, seen = 0, {path}
    while path in copies:
        path = copies[path]
        if path in seen:  # the detector orders pairs by time, so this is never expected
            raise PlanRefused(f"the incident's pairs form a cycle through {path}")
        seen.add(path)
        depth += 1
    return depth


def _relative(path: Any) -> str:
    """A finding's path, checked to be relative and to stay below the root."""
    text = str(path)
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or "\x00" in text:
        raise PlanRefused(f"the finding names {text!r}, which is not a path below the root")
    return text
