"""The demo's own synthetic backfill goes through: proposed by the scan, approved, executed
and verified (it used to roll back with "drift from the reference in id"), and its rows
carry fresh ids, none of them a real loan's."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import run_warden


def _warden(home: Path, *args: str):
    return run_warden(*args, "-c", "my-demo/warden.yaml", cwd=home)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.slow
def test_the_demo_backfill_is_approved_executed_and_verified(tmp_path: Path):
    made = run_warden("demo", "my-demo", cwd=tmp_path)
    assert made.code == 0, made.stderr
    incidents = _lines(
        _warden(tmp_path, "incidents", "list", "--json", "--pattern", "missing_partition").stdout
    )
    assert len(incidents) == 1
    incident = incidents[0]["id"]
    runs = _lines(_warden(tmp_path, "runs", "list", "--json", "--incident", str(incident)).stdout)
    proposed = [r for r in runs if r["status"] == "proposed"]
    assert [r["playbook"] for r in proposed] == ["synthetic_backfill"]
    run = str(proposed[0]["id"])

    # Planned again in another process, the plan has the same hash: the approval binds.
    approved = _warden(tmp_path, "approve", run, "--as", "alice")
    assert approved.code == 0, approved.stderr
    executed = _warden(tmp_path, "runs", "execute")
    assert executed.code == 0, executed.stderr
    final = _lines(_warden(tmp_path, "runs", "list", "--json", "--incident", str(incident)).stdout)
    status = {str(r["id"]): r["status"] for r in final}
    assert status[run] == "succeeded", executed.stdout

    shown = json.loads(_warden(tmp_path, "runs", "show", run, "--json").stdout)
    serialized = json.dumps(shown)
    assert "syn-" in serialized and "entity column" in serialized
    files = sorted((tmp_path / "my-demo").rglob("synthetic/loans/*/incident-*.parquet"))
    assert len(files) == 1
    generated = pq.read_table(files[0]).to_pandas()
    real_ids = set(
        pq.read_table(tmp_path / "my-demo" / "data" / "loans", columns=["id"])
        .column("id")
        .to_pylist()
    )
    assert len(generated) == 1500  # the median day of the reference week
    assert generated["id"].str.startswith(f"syn-{incident}-0-").all()
    assert generated["id"].is_unique and not set(generated["id"]) & real_ids
    assert generated["is_synthetic"].all()
    manifest = json.loads(files[0].with_name(files[0].stem + ".manifest.json").read_text())
    assert manifest["status"] == "written" and list(manifest["identifiers"]) == ["id"]
