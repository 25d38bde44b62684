"""Quarantine of asset files: from `warden scan` to approved moves and back.

A drawn folder holds a cut JPEG and a byte copy of a scene: the scan proposes one
quarantine each (the default routes), approved runs move exactly the broken file and the
later copy (the original stays), verification scans again and finds neither, and
`warden quarantine release` brings back byte-identical files at their own paths. The rule
that picks files along chains of near copies, and the refusals, are checked on their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbooks.asset_quarantine import AssetMove, asset_moves
from playbooks.base import DatasetLocation, IncidentView, PlanRefused, PlaybookContext
from playbooks.files import MoveRefused, sha256_of
from playbooks.quarantine import Quarantine, QuarantineParams
from tests.assets.test_asset_scans import DAY, _folder
from tests.cli.conftest import run_warden

CONFIG = (
    "datasets:\n  photos: {format: files, path: photos, time_from: path}\n"
    "monitors:\n  - name: photos-integrity\n    kind: assets\n    dataset: photos\n"
    "    window: 2d\n    workers: 1\n"
)


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_of(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_broken_files_and_later_copies_are_quarantined_and_released(tmp_path: Path):
    photos = tmp_path / "photos"
    _folder(photos)
    (tmp_path / "warden.yaml").write_text(CONFIG)
    before = _snapshot(photos)
    scan = run_warden("scan", "--at", "2025-06-02", "--json", cwd=tmp_path)
    assert scan.code == 0, scan.stderr
    runs = _lines(run_warden("runs", "list", "--json", cwd=tmp_path).stdout)
    incidents = {
        i["id"]: i["pattern"]
        for i in _lines(run_warden("incidents", "list", "--json", cwd=tmp_path).stdout)
    }
    by_pattern = {incidents[run["incident_id"]]: run for run in runs}
    # The default routes: broken files and byte copies are quarantined, near copies and
    # unreadable files are a person's call.
    assert set(by_pattern) == {"corrupt_asset", "duplicate_asset"}
    assert all(run["playbook"] == "quarantine" for run in runs)
    for run in runs:
        approved = run_warden("approve", str(run["id"]), "--as", "alice", cwd=tmp_path)
        assert approved.code == 0, approved.stderr
    executed = _lines(run_warden("runs", "execute", "--json", cwd=tmp_path).stdout)
    assert [o["status"] for o in executed] == ["succeeded", "succeeded"], executed

    moved = {f"{DAY}/cut.jpg", f"{DAY}/copy-of-3.png"}
    assert set(before) - set(_snapshot(photos)) == moved
    assert _snapshot(photos) == {p: h for p, h in before.items() if p not in moved}
    work = tmp_path / "warden-work" / "quarantine"
    for pattern, path in (("corrupt_asset", "cut.jpg"), ("duplicate_asset", "copy-of-3.png")):
        incident = by_pattern[pattern]["incident_id"]
        quarantined = work / f"incident-{incident}" / DAY / path
        assert sha256_of(quarantined) == before[f"{DAY}/{path}"]
    listed = {
        i["pattern"]: i["status"]
        for i in _lines(run_warden("incidents", "list", "--json", cwd=tmp_path).stdout)
    }
    assert listed["corrupt_asset"] == listed["duplicate_asset"] == "resolved"

    for run in runs:
        released = run_warden("quarantine", "release", str(run["incident_id"]), cwd=tmp_path)
        assert released.code == 0, released.stderr
    assert _snapshot(photos) == before  # the same bytes at the same paths
    again = run_warden("scan", "--at", "2025-06-02T01:00:00", "--json", cwd=tmp_path)
    found = {f["pattern"] for f in json.loads(again.stdout)["findings"] if f["alert"]}
    assert {"corrupt_asset", "duplicate_asset"} <= found  # released files are seen again


def _pairs(*pairs: tuple[str, str]) -> list[dict]:
    return [
        {
            "pattern": "near_duplicate_asset",
            "details": {"pairs": [{"path": p, "original": o} for p, o in pairs]},
        }
    ]


def test_along_a_chain_of_near_copies_every_other_file_moves():
    # b is near a, c near b only, d near c only; e near a: moving b and c would take c's
    # picture out of the dataset, so b, d and e move and each keeps its original.
    moves = asset_moves(
        "near_duplicate_asset", _pairs(("b", "a"), ("c", "b"), ("d", "c"), ("e", "a"))
    )
    assert moves == [AssetMove("b", "a"), AssetMove("d", "c"), AssetMove("e", "a")]


@pytest.mark.parametrize("hostile", ["../outside.jpg", "/etc/passwd", "a/../../b", "a\x00b"])
def test_a_path_that_leaves_the_root_is_refused(hostile: str):
    with pytest.raises(PlanRefused, match="not a path below the root"):
        asset_moves(
            "corrupt_asset", [{"pattern": "corrupt_asset", "details": {"paths": [hostile]}}]
        )


def test_unreadable_files_are_not_quarantined():
    with pytest.raises(PlanRefused, match="not a problem of the files' content"):
        asset_moves("unreadable_asset", [])


def _context(tmp_path: Path) -> PlaybookContext:
    return PlaybookContext(
        DatasetLocation("photos", "files", str(tmp_path / "photos"), "asset_time"),
        tmp_path / "work",
    )


def _pair_incident(incident_id: int, pattern: str, copy: str, original: str) -> IncidentView:
    pair = {"path": copy, "original": original}
    return IncidentView(
        incident_id,
        "photos",
        pattern,
        findings=({"pattern": pattern, "details": {"pairs": [pair], "count": 1}},),
    )


def _duplicate_incident() -> IncidentView:
    return _pair_incident(5, "duplicate_asset", "day/copy.png", "day/first.png")


def test_a_copy_whose_original_is_gone_or_changed_stays(tmp_path: Path):
    day = tmp_path / "photos" / "day"
    day.mkdir(parents=True)
    (day / "first.png").write_bytes(b"same bytes")
    (day / "copy.png").write_bytes(b"same bytes")
    playbook, params = Quarantine(), QuarantineParams()
    plan = playbook.plan(_duplicate_incident(), params, _context(tmp_path))
    (move,) = [step for step in plan.steps if step.action == "move"]
    assert move.details["keeps"] == str(day / "first.png")

    # The original changes between the plan and its approval: the copy is not moved.
    (day / "first.png").write_bytes(b"other bytes")
    with pytest.raises(MoveRefused, match="the original that stays"):
        playbook.apply(plan, _context(tmp_path))
    assert (day / "copy.png").read_bytes() == b"same bytes"
    with pytest.raises(PlanRefused, match="no longer hold the same bytes"):
        playbook.plan(_duplicate_incident(), params, _context(tmp_path))

    # The original is gone: the copy is the last one, and no plan moves it.
    (day / "first.png").unlink()
    with pytest.raises(PlanRefused, match="is gone: kept"):
        playbook.plan(_duplicate_incident(), params, _context(tmp_path))
    assert (day / "copy.png").exists()


def _near_incident(incident_id: int, copy: str, original: str) -> IncidentView:
    return _pair_incident(incident_id, "near_duplicate_asset", copy, original)


def test_a_chain_split_over_two_incidents_never_loses_its_last_picture(tmp_path: Path):
    # b is near a, c near b only; the two pairs were found on two days (two incidents).
    day = tmp_path / "photos" / "day"
    day.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (day / f"{name}.png").write_bytes(name.encode() * 10)
    playbook, params, context = Quarantine(), QuarantineParams(), _context(tmp_path)
    later = playbook.plan(_near_incident(2, "day/c.png", "day/b.png"), params, context)
    earlier = playbook.plan(_near_incident(1, "day/b.png", "day/a.png"), params, context)
    playbook.apply(later, context)  # c moves; b stays as its original
    with pytest.raises(MoveRefused, match="another quarantine in force kept"):
        playbook.apply(earlier, context)
    assert (day / "b.png").exists() and (day / "a.png").exists()
    playbook.rollback(later, context)  # once c is back, b may go
    playbook.apply(earlier, context)
    assert not (day / "b.png").exists() and (day / "c.png").exists()


def test_a_folder_swapped_for_a_link_after_planning_is_not_followed(tmp_path: Path):
    day = tmp_path / "photos" / "day"
    day.mkdir(parents=True)
    (day / "copy.png").write_bytes(b"same bytes")
    (day / "first.png").write_bytes(b"same bytes")
    playbook, context = Quarantine(), _context(tmp_path)
    plan = playbook.plan(_duplicate_incident(), QuarantineParams(), context)
    elsewhere = tmp_path / "elsewhere"
    day.rename(elsewhere)
    day.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(PlanRefused, match="lies outside the dataset's folder"):
        playbook.apply(plan, context)
    assert (elsewhere / "copy.png").read_bytes() == b"same bytes"


def test_an_identical_leakage_pair_checks_the_originals_bytes():
    pair = {"path": "eval/x.png", "original": "train/x.png", "kind": "identical"}
    near = {"path": "eval/y.png", "original": "train/y.png", "kind": "near"}
    finding = {"pattern": "split_leakage", "details": {"pairs": [pair, near]}}
    moves = asset_moves("split_leakage", [finding])
    assert moves == [
        AssetMove("eval/x.png", "train/x.png", identical=True),
        AssetMove("eval/y.png", "train/y.png", identical=False),
    ]
