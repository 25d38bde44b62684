"""Quarantine never reaches outside the dataset, never overwrites, leaves nothing half-written,
and shows a quarantine stopped half-way so it can be released."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from playbooks.base import Plan, PlanRefused
from playbooks.files import MoveRefused, move_file, sha256_of
from playbooks.quarantine import QuarantineParams, read_manifests
from tests.playbooks.test_quarantine import (
    PLAYBOOK,
    _context,
    _snapshot,
    _window_incident,
    _write_days,
)


def _outside_link(tmp_path: Path, day: int) -> Path:
    """Replace day `day`'s file of the dataset by a link to a copy outside the dataset."""
    inside = next((tmp_path / "data").glob(f"date=2025-03-0{day + 1}/*.parquet"))
    outside = tmp_path / "elsewhere" / f"day{day}" / inside.name
    outside.parent.mkdir(parents=True)
    shutil.move(inside, outside)
    inside.symlink_to(outside)
    return outside


def test_a_link_to_a_file_outside_the_dataset_is_refused_and_left_alone(tmp_path: Path):
    _write_days(tmp_path / "data", 3)
    outside = _outside_link(tmp_path, 1)
    before = sha256_of(outside)
    with pytest.raises(PlanRefused, match="outside the dataset's folder"):
        PLAYBOOK.plan(_window_incident(1), QuarantineParams(), _context(tmp_path))
    assert outside.exists() and sha256_of(outside) == before
    assert not (tmp_path / "warden").exists()


def test_two_same_named_targets_outside_can_never_overwrite_each_other(tmp_path: Path):
    # The red team's case: two links whose targets share a file name. Before, both landed
    # on one destination and the second copy replaced the first.
    _write_days(tmp_path / "data", 3)
    first, second = _outside_link(tmp_path, 0), _outside_link(tmp_path, 1)
    assert first.name == second.name
    incident = _window_incident(0)
    incident.windows["current"]["end"] = "2025-03-03T00:00:00+00:00"
    with pytest.raises(PlanRefused, match="outside the dataset's folder"):
        PLAYBOOK.plan(incident, QuarantineParams(), _context(tmp_path))
    assert first.exists() and second.exists()


def test_a_move_never_overwrites_a_destination_that_holds_something_else(tmp_path: Path):
    source, destination = tmp_path / "a.bin", tmp_path / "q" / "a.bin"
    source.write_bytes(b"data that must survive")
    destination.parent.mkdir()
    destination.write_bytes(b"another file")
    with pytest.raises(MoveRefused, match="never overwrites"):
        move_file(source, destination, sha256_of(source))
    assert source.read_bytes() == b"data that must survive"
    assert destination.read_bytes() == b"another file"


def test_a_move_refuses_a_source_that_became_a_link(tmp_path: Path):
    target, source = tmp_path / "target.bin", tmp_path / "a.bin"
    target.write_bytes(b"x")
    source.symlink_to(target)
    with pytest.raises(MoveRefused, match="symbolic link"):
        move_file(source, tmp_path / "q.bin", sha256_of(target))
    assert target.read_bytes() == b"x" and source.is_symlink()


def test_a_quarantine_stopped_half_way_is_listed_and_released(tmp_path: Path):
    files = _write_days(tmp_path / "data", 1, files_per_day=2)
    before = _snapshot(tmp_path / "data")
    context = _context(tmp_path)
    plan = PLAYBOOK.plan(_window_incident(0), QuarantineParams(), context)
    files[1].write_bytes(files[1].read_bytes() + b"changed after the plan")
    with pytest.raises(MoveRefused, match="changed since the plan"):
        PLAYBOOK.apply(plan, context)
    manifests = read_manifests(context.work_root)
    assert [m["status"] for m in manifests] == ["quarantining"]
    assert [f["original_path"] for f in manifests[0]["files"]] == [str(f) for f in files]
    assert not files[0].exists()  # the first file had moved before the second was refused
    PLAYBOOK.rollback(Plan.from_dict(plan.to_dict()), context)
    after = _snapshot(tmp_path / "data")
    assert (
        after[str(files[0].relative_to(tmp_path / "data"))]
        == before[str(files[0].relative_to(tmp_path / "data"))]
    )
    assert [m["status"] for m in read_manifests(context.work_root)] == ["released"]


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from playbooks.files import move_file, sha256_of
source, destination = Path(sys.argv[1]), Path(sys.argv[2])
expected = sha256_of(source)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    move_file(source, destination, expected)
except OSError as error:
    print("failed:", error.errno)
"""


def test_a_copy_that_runs_out_of_space_leaves_no_partial_file(tmp_path: Path):
    source = tmp_path / "big.bin"
    source.write_bytes(b"\x01" * 100_000)
    destination = tmp_path / "q" / "big.bin"
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(source), str(destination)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("failed:"), done.stdout + done.stderr  # the case happened
    assert source.read_bytes() == b"\x01" * 100_000
    assert list(destination.parent.iterdir()) == []
