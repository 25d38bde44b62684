"""From a scan to an approved run on the command line: the proposal is listed with its plan,
a person approves it, and a second decision is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .conftest import run_warden

DAY = datetime(2025, 3, 1, tzinfo=UTC)


def _write(folder: Path) -> None:
    for day in range(8):
        start = DAY + timedelta(days=day)
        values = [None if day == 7 and h % 2 else float(h) for h in range(48)]  # a null spike
        target = folder / f"date={start.date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        times = [start + timedelta(minutes=30 * h) for h in range(48)]
        pq.write_table(
            pa.table({"ts": pa.array(times, pa.timestamp("us", "UTC")), "x": values}), target
        )


def test_scan_proposes_and_a_person_approves(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(
        "datasets:\n  events: {format: parquet, path: data, time_column: ts}\n"
        "monitors:\n  - name: quality\n    kind: quality\n    dataset: events\n"
        "    window: 1d\n    reference: {start: '2025-03-01', end: '2025-03-06'}\n"
    )
    scan = run_warden("scan", "--at", "2025-03-09", "--json", cwd=tmp_path)
    assert scan.code == 0, scan.stderr
    assert ("null_spike", "x") in {
        (f["pattern"], f["column"]) for f in json.loads(scan.stdout)["findings"] if f["alert"]
    }
    (run,) = [
        json.loads(line)
        for line in run_warden("runs", "list", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert (run["playbook"], run["status"], run["approval_policy"]) == (
        "quarantine",
        "proposed",
        "human",
    )
    shown = run_warden("runs", "show", str(run["id"]), cwd=tmp_path)
    assert "date=2025-03-08" in shown.stdout and run["plan_hash"] in shown.stdout
    approved = run_warden("approve", str(run["id"]), "--as", "alice", cwd=tmp_path)
    assert approved.code == 0 and "approved" in approved.stdout
    late = run_warden("reject", str(run["id"]), "--reason", "no", "--as", "bob", cwd=tmp_path)
    assert late.code == 2 and "only a proposed run can be decided" in late.stderr
    detail = json.loads(run_warden("runs", "show", str(run["id"]), "--json", cwd=tmp_path).stdout)
    assert [(d["actor"], d["decision"]) for d in detail["decisions"]] == [("alice", "approve")]
    assert detail["status"] == "approved"
    missing = run_warden("approve", "99", cwd=tmp_path)
    assert missing.code == 2 and "there is no run 99" in missing.stderr

    spiked = tmp_path / "data" / "date=2025-03-08" / "part-0.parquet"
    original = spiked.read_bytes()
    executed = run_warden("runs", "execute", "--json", cwd=tmp_path)
    (outcome,) = [json.loads(line) for line in executed.stdout.splitlines()]
    assert outcome["status"] == "succeeded", outcome
    assert not spiked.exists()
    incidents = run_warden("incidents", "list", "--json", cwd=tmp_path).stdout.splitlines()
    assert json.loads(incidents[0])["status"] == "resolved"
    (quarantined,) = [
        json.loads(line)
        for line in run_warden("quarantine", "list", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert quarantined["status"] == "quarantined" and len(quarantined["files"]) == 1
    released = run_warden(
        "quarantine", "release", str(run["incident_id"]), "--as", "alice", cwd=tmp_path
    )
    assert released.code == 0 and "1 file(s) back in place" in released.stdout
    assert spiked.read_bytes() == original
    again = run_warden("quarantine", "release", str(run["incident_id"]), cwd=tmp_path)
    assert again.code == 2 and "released already" in again.stderr
