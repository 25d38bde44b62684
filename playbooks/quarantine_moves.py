"""The file moves of a quarantine plan: where each file goes, the checks made before, and
the plan they form.

A file keeps its place below the dataset's root under
`<work_root>/quarantine/incident-<id>/`; a plan refuses symbolic links, files whose real
path lies outside the root, and two files that would land on one destination. A file
moved as the copy of a pair names the original that stays (`keeps`): that original is
checked before the move, so a quarantine never takes the last copy of the data away.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

from detectors.assets.walk import split_pattern
from playbooks.base import (
    DatasetLocation,
    IncidentView,
    Plan,
    PlanRefused,
    PlanStep,
    PlaybookContext,
    PlaybookParams,
)
from playbooks.files import MoveRefused, sha256_of

MANIFEST = "manifest.json"


def quarantine_folder(context: PlaybookContext, incident_id: int) -> Path:
    return context.work_root / "quarantine" / f"incident-{incident_id}"


def move_steps(
    files: list[tuple[Path, Path | None, bool]], root: Path, target: Path
) -> tuple[list[PlanStep], int]:
    """One `move` step per (file, the original that stays or None, whether the two are
    byte-identical), each file keeping its place below `root` under `target`; and the bytes
    moved. A byte-identical original must hold the same bytes as the copy (checked here and
    again before the move)."""
    steps = []
    total = 0
    destinations: dict[Path, Path] = {}
    for path, keeps, identical in files:
        destination = target / inside(path, root)
        if destination in destinations:
            raise PlanRefused(
                f"{path} and {destinations[destination]} would both be quarantined as "
                f"{destination}; nothing was moved"
            )
        destinations[destination] = path
        try:
            size, digest = path.stat().st_size, sha256_of(path)
            kept = None if keeps is None else (inside(keeps, root), sha256_of(keeps))
        except OSError as error:
            raise PlanRefused(f"{path} cannot be read: {error}") from error
        if kept is not None and identical and kept[1] != digest:
            raise PlanRefused(
                f"{path} and {keeps} no longer hold the same bytes; scan again before quarantining"
            )
        total += size
        details: dict[str, Any] = {"to": str(destination), "sha256": digest, "bytes": size}
        if kept is not None:  # only for pairs, so other plans keep their hashes
            details["keeps"] = str(keeps)
            if identical:
                details["keeps_sha256"] = kept[1]
        steps.append(PlanStep("move", str(path), details))
    return steps, total


def files_plan(
    playbook: str,
    incident_id: int,
    params: PlaybookParams,
    steps: list[PlanStep],
    target: Path,
    summary: str,
) -> Plan:
    manifest = PlanStep("write_manifest", str(target / MANIFEST), {"files": len(steps)})
    return Plan(
        playbook=playbook,
        incident_id=incident_id,
        params=params.model_dump(),
        summary=(
            f"{summary} Nothing is deleted; `warden quarantine release {incident_id}` moves "
            "them back unchanged."
        ),
        steps=(*steps, manifest),
    )


def listing_cut(incident: IncidentView) -> tuple[int, int] | None:
    """(listed, counted) when the incident's finding lists fewer files than it counted."""
    for finding in incident.findings:
        details = finding.get("details") or {}
        listed = len(details.get("paths") or details.get("pairs") or ())
        count = details.get("count")
        if finding.get("pattern") == incident.pattern and isinstance(count, int) and count > listed:
            return listed, count
    return None


def check_kept(step: PlanStep, kept_by_others: set[str]) -> None:
    """Before moving a file: the original that stays must still be there (and, for a
    byte-identical pair, still hold the same bytes), and no other quarantine in force may
    keep this file as the original of a copy it moved (`kept_by_others`, from
    `kept_elsewhere`: a chain of near copies split over two incidents): either move would
    take the last copy of the data out of the dataset."""
    if not Path(step.target).exists():
        return  # already moved (a rerun)
    if step.target in kept_by_others:
        raise MoveRefused(
            f"{step.target} is the original another quarantine in force kept in place of "
            "a copy it moved; release that one first"
        )
    keeps = step.details.get("keeps")
    if keeps is None:
        return
    kept = Path(keeps)
    expected = step.details.get("keeps_sha256")
    if not kept.exists() or (expected and sha256_of(kept) != expected):
        raise MoveRefused(
            f"{kept}, the original that stays, is gone or changed since the plan; "
            f"{step.target} was not moved"
        )


def kept_elsewhere(work_root: Path, incident_id: int) -> set[str]:
    """The originals kept in place by the quarantines in force of other incidents."""
    kept: set[str] = set()
    for path in sorted((work_root / "quarantine").glob(f"incident-*/{MANIFEST}")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # an unreadable manifest is listed by `quarantine list` as such
        if document.get("incident_id") == incident_id or document.get("status") == "released":
            continue
        kept.update(entry["keeps"] for entry in document.get("files", ()) if entry.get("keeps"))
    return kept


def files_root(dataset: DatasetLocation) -> Path:
    """The real folder below which a file dataset's files keep their paths."""
    if dataset.format == "files":
        return Path(os.path.realpath(split_pattern(dataset.path)[0]))
    return dataset_root(dataset.path)


def dataset_root(path: str) -> Path:
    """The folder below which the dataset's files keep their relative paths."""
    if glob.has_magic(path):
        prefix = path[: min(path.index(c) for c in "*?[" if c in path)]
        return Path(prefix if prefix.endswith("/") else Path(prefix).parent).resolve()
    target = Path(path).resolve()
    return target if target.is_dir() else target.parent


def inside(path: Path, root: Path) -> Path:
    """`path`'s place below the dataset's `root`, refusing (PlanRefused) a file that is
    a symbolic link or whose real path lies outside the root: quarantine moves the
    dataset's own files, never a link's target elsewhere on the machine."""
    if path.is_symlink():
        raise PlanRefused(
            f"{path} is a symbolic link; quarantine moves only the dataset's own files "
            "(replace the link with the file, or quarantine the target's own dataset)"
        )
    real = path.resolve()
    try:
        return real.relative_to(root)
    except ValueError:
        raise PlanRefused(
            f"{real} lies outside the dataset's folder {root} (reached through a symbolic "
            "link); quarantine never touches a file outside the dataset"
        ) from None
