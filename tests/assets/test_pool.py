"""Files inspected by bounded workers: results in order, progress reported, and a file that
hangs its worker or kills it costs that file only (injected faults, not guessed sleeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.assets.inspect import FAULT_VARIABLE
from detectors.assets.pool import PoolLimits, inspect_files
from detectors.assets.walk import walk_assets
from tests.assets.scenes import encoded, scene


def _folder(root: Path, count: int) -> list:
    for seed in range(count):
        (root / f"{seed:02d}.png").write_bytes(encoded(scene(seed, (64, 48)), "PNG"))
    return list(walk_assets(str(root)).files)


def test_every_file_comes_back_in_order_with_progress(tmp_path: Path):
    files = _folder(tmp_path, 12)
    seen: list[tuple[int, int]] = []
    facts = inspect_files(
        str(tmp_path), files, pool_limits=PoolLimits(workers=2), progress=lambda *p: seen.append(p)
    )
    assert [f.path for f in facts] == [f.path for f in files]
    assert all(f.status == "ok" and f.phash is not None for f in facts)
    assert seen[-1] == (12, 12) and [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.parametrize(("fault", "reason"), [("hang", "timeout"), ("kill", "timeout")])
def test_a_file_that_hangs_or_kills_its_worker_costs_only_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, reason: str
):
    """A killed worker's file is lost by the pool and ends at its time limit, like a hang;
    every other file, including those in flight beside it, is inspected on a fresh pool."""
    files = _folder(tmp_path, 8)
    monkeypatch.setenv(FAULT_VARIABLE, f"{fault}:03.png")
    facts = inspect_files(
        str(tmp_path), files, pool_limits=PoolLimits(workers=2, seconds_per_file=5)
    )
    by_path = {f.path: f for f in facts}
    assert (by_path["03.png"].status, by_path["03.png"].reason) == ("unreadable", reason)
    others = [f for f in facts if f.path != "03.png"]
    assert len(others) == 7 and all(f.status == "ok" for f in others)


def test_no_files_starts_no_workers():
    assert inspect_files("/nonexistent", []) == []
