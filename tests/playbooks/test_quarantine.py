"""Quarantine moves files out of a dataset and back, byte-identical, and survives SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.crash_points import STOP_AT_VARIABLE
from detectors.sources.files import open_file_source
from playbooks.base import DatasetLocation, IncidentView, Plan, PlanRefused, PlaybookContext
from playbooks.files import MoveRefused, sha256_of
from playbooks.quarantine import Quarantine, QuarantineParams, read_manifests

DAY = datetime(2025, 3, 1, tzinfo=UTC)
PLAYBOOK = Quarantine()


def _write_days(folder: Path, days: int, files_per_day: int = 1) -> list[Path]:
    written = []
    for day in range(days):
        start = DAY + timedelta(days=day)
        for part in range(files_per_day):
            table = pa.table(
                {
                    "ts": pa.array(
                        [start + timedelta(hours=h) for h in range(24)], pa.timestamp("us", "UTC")
                    ),
                    "x": [float(day * 100 + part + h) for h in range(24)],
                }
            )
            target = folder / f"date={start.date()}" / f"part-{part}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target)
            written.append(target)
    return written


def _context(tmp_path: Path, fmt: str = "parquet") -> PlaybookContext:
    return PlaybookContext(
        DatasetLocation("events", fmt, str(tmp_path / "data"), "ts"), tmp_path / "warden"
    )


def _window_incident(day: int, incident_id: int = 7) -> IncidentView:
    start = DAY + timedelta(days=day)
    return IncidentView(
        incident_id,
        "events",
        "null_spike",
        windows={
            "current": {
                "dataset": "events",
                "start": start.isoformat(),
                "end": (start + timedelta(days=1)).isoformat(),
            }
        },
    )


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_of(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_window_quarantine_moves_that_day_and_release_restores_it(tmp_path: Path):
    files = _write_days(tmp_path / "data", 3)
    before = _snapshot(tmp_path / "data")
    context = _context(tmp_path)
    plan = PLAYBOOK.plan(_window_incident(1), QuarantineParams(), context)
    assert [s.target for s in plan.steps if s.action == "move"] == [str(files[1])]
    assert plan.hash == PLAYBOOK.plan(_window_incident(1), QuarantineParams(), context).hash
    assert "Nothing is deleted" in plan.summary

    log = PLAYBOOK.apply(plan, context)
    assert [entry.get("outcome") for entry in log] == ["moved", None]
    assert not files[1].exists() and files[0].exists() and files[2].exists()
    moved = tmp_path / "warden/quarantine/incident-7/date=2025-03-02/part-0.parquet"
    assert sha256_of(moved) == before["date=2025-03-02/part-0.parquet"]
    (manifest,) = read_manifests(tmp_path / "warden")
    assert manifest["status"] == "quarantined" and manifest["plan_hash"] == plan.hash
    assert manifest["files"][0]["original_path"] == str(files[1])
    # Warden's reads no longer see the quarantined day.
    source = open_file_source(
        "events", path=str(tmp_path / "data"), file_format="parquet", time_column="ts"
    )
    assert source.profile(DAY, DAY + timedelta(days=3), ["x"]).rows == 48
    # Applying again changes nothing.
    assert [e.get("outcome") for e in PLAYBOOK.apply(plan, context)] == ["already moved", None]

    PLAYBOOK.rollback(plan, context)
    assert _snapshot(tmp_path / "data") == before
    assert read_manifests(tmp_path / "warden")[0]["status"] == "released"


def test_a_changed_dataset_changes_the_plan_hash(tmp_path: Path):
    _write_days(tmp_path / "data", 2)
    context = _context(tmp_path)
    first = PLAYBOOK.plan(_window_incident(1), QuarantineParams(), context)
    # A late file for the same day arrives: the plan must change, and so must its hash.
    late = tmp_path / "data" / "date=2025-03-02" / "part-9.parquet"
    pq.write_table(pq.read_table(tmp_path / "data" / "date=2025-03-02" / "part-0.parquet"), late)
    second = PLAYBOOK.plan(_window_incident(1), QuarantineParams(), context)
    assert len(second.steps) == len(first.steps) + 1 and second.hash != first.hash
    assert Plan.from_dict(json.loads(second.canonical_json())).hash == second.hash


def test_a_file_changed_after_planning_is_not_moved(tmp_path: Path):
    files = _write_days(tmp_path / "data", 2)
    context = _context(tmp_path)
    plan = PLAYBOOK.plan(_window_incident(0), QuarantineParams(), context)
    files[0].write_bytes(files[0].read_bytes() + b"tampered")
    with pytest.raises(MoveRefused, match="changed since the plan"):
        PLAYBOOK.apply(plan, context)
    assert files[0].exists()


def test_file_scoped_incident_and_refusals(tmp_path: Path):
    files = _write_days(tmp_path / "data", 2)
    context = _context(tmp_path)
    by_path = IncidentView(3, "events", "corrupt_partition", scope={"path": str(files[0])})
    plan = PLAYBOOK.plan(by_path, QuarantineParams(), context)
    assert [s.target for s in plan.steps if s.action == "move"] == [str(files[0])]
    with pytest.raises(PlanRefused, match="nothing to quarantine"):
        PLAYBOOK.plan(_window_incident(9), QuarantineParams(), context)
    _write_days(tmp_path / "more", 1, files_per_day=3)
    many = PlaybookContext(
        DatasetLocation("events", "parquet", str(tmp_path / "more"), "ts"), tmp_path / "w"
    )
    with pytest.raises(PlanRefused, match="more than max_files=2"):
        PLAYBOOK.plan(_window_incident(0), QuarantineParams(max_files=2), many)
    table = PlaybookContext(DatasetLocation("t", "spark", "", "ts"), tmp_path / "w")
    with pytest.raises(PlanRefused, match="moves files of parquet, csv and asset datasets"):
        PLAYBOOK.plan(_window_incident(0), QuarantineParams(), table)
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "events.csv").write_text("ts,x\n2025-03-01T00:00:00Z,1\n")
    csv = PlaybookContext(DatasetLocation("c", "csv", str(tmp_path / "csv"), "ts"), tmp_path)
    with pytest.raises(PlanRefused, match="CSV files carry no time statistics"):
        PLAYBOOK.plan(_window_incident(0), QuarantineParams(), csv)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    contents=st.lists(st.binary(max_size=4096), min_size=1, max_size=5),
    # Discovery skips folders starting with "_" or "." (Spark's _temporary...), as it should.
    names=st.lists(
        st.from_regex(r"[a-j][a-j0-9=_-]{0,11}", fullmatch=True),
        min_size=5,
        max_size=5,
        unique=True,
    ),
)
def test_quarantine_then_release_is_byte_identical(tmp_path_factory, contents, names):
    root = tmp_path_factory.mktemp("roundtrip")
    data = root / "data"
    for index, content in enumerate(contents):
        target = data / f"{names[index]}" / "part.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    before = _snapshot(data)
    context = PlaybookContext(DatasetLocation("d", "parquet", str(data), "ts"), root / "w")
    for index, path in enumerate(sorted(data.rglob("*.parquet"))):
        incident = IncidentView(index + 1, "d", "corrupt_partition", scope={"path": str(path)})
        plan = PLAYBOOK.plan(incident, QuarantineParams(), context)
        PLAYBOOK.apply(plan, context)
        assert not path.exists()
        PLAYBOOK.rollback(plan, context)
    assert _snapshot(data) == before


APPLY_SCRIPT = """
import json, sys
from pathlib import Path
from daemon.crash_points import stop_if_asked
from daemon.crash_points import STOP_AT_VARIABLE
from playbooks.base import DatasetLocation, Plan, PlaybookContext
from playbooks.quarantine import Quarantine
plan = Plan.from_dict(json.loads(Path(sys.argv[1]).read_text()))
context = PlaybookContext(
    DatasetLocation(*json.loads(sys.argv[2])),
    Path(sys.argv[3]),
    on_step=lambda step: stop_if_asked("quarantine.step"),
)
Quarantine().apply(plan, context)
print("done")
"""


def test_sigkill_during_apply_then_rerun_ends_as_a_clean_run(tmp_path: Path):
    files = _write_days(tmp_path / "data", 1, files_per_day=40)
    before = {path.name: sha256_of(path) for path in files}
    context = _context(tmp_path)
    # One plan that moves all 40 files (as a window-level plan would), from per-file plans.
    per_file = [
        PLAYBOOK.plan(
            IncidentView(1, "events", "corrupt_partition", scope={"path": str(path)}),
            QuarantineParams(),
            context,
        )
        for path in files
    ]
    moves = tuple(step for plan in per_file for step in plan.steps if step.action == "move")
    plan = Plan("quarantine", 1, {"max_files": 200}, "all", (*moves, per_file[0].steps[-1]))
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(plan.canonical_json())
    location = json.dumps(["events", "parquet", str(tmp_path / "data"), "ts"])
    command = [
        sys.executable,
        "-c",
        APPLY_SCRIPT,
        str(plan_file),
        location,
        str(tmp_path / "warden"),
    ]
    repo_root = Path(__file__).resolve().parents[2]
    # Each run kills itself (SIGKILL) once its k-th step is done; a rerun reports the moves
    # already made as steps too, so k counts from the start of the plan every time.
    for k in sorted(random.Random(5).sample(range(1, len(files)), 4)):
        env = {**os.environ, STOP_AT_VARIABLE: f"quarantine.step:{k}"}
        killed = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert sum(not path.exists() for path in files) == k  # killed mid-way, k files moved
        assert read_manifests(tmp_path / "warden")[0]["status"] == "quarantining"
    finished = subprocess.run(command, cwd=repo_root, capture_output=True, text=True)
    assert finished.returncode == 0 and "done" in finished.stdout, finished.stderr
    quarantine = tmp_path / "warden" / "quarantine" / "incident-1"
    moved = {path.name: sha256_of(path) for path in quarantine.rglob("*.parquet")}
    assert moved == before  # every file exactly once, intact
    assert not any(path.exists() for path in files)
    assert not list(quarantine.rglob("*.partial"))
    assert read_manifests(tmp_path / "warden")[0]["status"] == "quarantined"
