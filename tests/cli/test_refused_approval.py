"""An approval refused because the plan changed exits non-zero, says why, and leaves the
new proposal to approve."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.cli.conftest import run_warden
from tests.cli.test_runs_cli import CONFIG, DAY, _write


def test_an_approval_of_a_changed_plan_exits_2(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG)
    assert run_warden("scan", "--at", "2025-03-09", cwd=tmp_path).code == 0
    # Another file of the spiked day arrives: the quarantine now moves two files.
    times = [DAY + timedelta(days=7, minutes=30 * h + 11) for h in range(48)]
    late = tmp_path / "data" / "date=2025-03-08" / "part-1.parquet"
    pq.write_table(
        pa.table({"ts": pa.array(times, pa.timestamp("us", "UTC")), "x": [1.0] * 48}), late
    )
    refused = run_warden("approve", "1", "--as", "alice", cwd=tmp_path)
    assert refused.code == 2, (refused.code, refused.stdout, refused.stderr)
    assert "nothing was approved" in " ".join(refused.stderr.split())
    runs = [
        json.loads(line)
        for line in run_warden("runs", "list", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert sorted((r["id"], r["status"]) for r in runs) == [(1, "expired"), (2, "proposed")]
    assert run_warden("approve", "2", "--as", "alice", cwd=tmp_path).code == 0
