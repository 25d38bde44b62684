"""Delta Lake datasets: scans read through Arrow into DuckDB, name the table version they
read, and replay the past (`--at`) by the version current then."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import norm

from tests.cli.conftest import Ran, run_warden
from tests.versions.scans import config_for, drift_monitor, scan

deltalake = pytest.importorskip("deltalake", reason="the `delta` extra is part of make test")

START = datetime(2025, 1, 1, tzinfo=UTC)


def _day(day: int, rows: int = 300, shift: float = 0.0) -> pa.Table:
    """A day's rows: x takes the same normal quantiles every day (a clean day cannot drift
    by chance), `shift` standard deviations off."""
    rng = np.random.default_rng(day)
    base = START + timedelta(days=day)
    return pa.table(
        {
            "ts": pa.array(
                [base + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, rows)],
                pa.timestamp("us", tz="UTC"),
            ),
            "x": rng.permutation(norm.ppf((np.arange(rows) + 0.5) / rows)) + shift,
            "day": [f"d{day:02d}"] * rows,
        }
    )


def _commit_at(table: Path, version: int, when: datetime) -> None:
    """Date commit `version` (time travel goes by the commit file's modification time)."""
    seconds = when.timestamp()
    os.utime(table / "_delta_log" / f"{version:020d}.json", (seconds, seconds))


def _table_of_days(path: Path, days: int, *, shifted_last: bool = False) -> None:
    """Commit v = day v's rows, dated the end of that day."""
    for day in range(days):
        shift = 3.0 if shifted_last and day == days - 1 else 0.0
        deltalake.write_deltalake(
            str(path), _day(day, shift=shift), mode="append", partition_by=["day"]
        )
        _commit_at(path, day, START + timedelta(days=day + 1))


def _config(store, path: Path, **monitor):
    return config_for(
        store,
        {"orders": {"format": "delta", "path": str(path), "time_column": "ts"}},
        [drift_monitor("orders", **monitor)],
    )


def test_a_scan_names_the_table_version_and_reads_its_partitions(store, tmp_path: Path):
    path = tmp_path / "orders"
    _table_of_days(path, 6, shifted_last=True)
    config = _config(store, path)
    report = scan(config, store, START + timedelta(days=6))
    assert report["status"] == "alert", report["message"]  # day 5 is shifted by 3 sigma
    assert [(f["pattern"], f["column"]) for f in report["findings"] if f["alert"]] == [
        ("feature_drift", "x")
    ]
    assert report["dataset_version"] == "5" and report["dataset_version_kind"] == "delta"
    with store.session(readonly=True) as session:
        from daemon.scan.version_records import version_rows

        (row,) = version_rows(session, "orders")
        assert row.details["rows"] == 6 * 300 and row.details["file_count"] == 6
        assert row.details["operation"] == "WRITE"
        assert row.columns["day"] == "varchar"  # a partition column, from the log
        from daemon.store.models import Incident

        incident = session.get(Incident, report["incident_id"])
        assert incident is not None
        assert incident.evidence["dataset_version"] == {
            "version": "5",
            "kind": "delta",
            "scan_run_id": report["scan_run_id"],
        }


def test_a_replay_reads_the_version_current_at_its_time(store, tmp_path: Path):
    path = tmp_path / "orders"
    _table_of_days(path, 6, shifted_last=True)
    config = _config(store, path, window="2d")
    # At the end of day 4 (5 January), version 4 was the latest: day 5's shift is unseen.
    past = scan(config, store, START + timedelta(days=5, hours=1))
    assert past["dataset_version"] == "4" and past["status"] == "ok", past["message"]
    later = scan(config, store, START + timedelta(days=6, hours=1))
    assert later["dataset_version"] == "5" and later["status"] == "alert"
    # Replayed again, the past is the same: the same version, the same verdict.
    again = scan(config, store, START + timedelta(days=5, hours=1))
    assert again["dataset_version"] == "4" and again["status"] == "ok"


def test_a_time_before_the_first_commit_is_refused(store, tmp_path: Path):
    path = tmp_path / "orders"
    _table_of_days(path, 3)
    report = scan(_config(store, path), store, START + timedelta(hours=12))
    assert report["status"] == "error"
    assert "had no version at 2025-01-01T12:00:00+00:00" in report["message"]
    assert "2025-01-02" in report["message"]  # when its first version was committed


def test_a_log_missing_a_version_is_a_clear_error(store, tmp_path: Path):
    path = tmp_path / "orders"
    _table_of_days(path, 4)
    (path / "_delta_log" / f"{2:020d}.json").unlink()
    report = scan(_config(store, path), store, START + timedelta(days=4))
    assert report["status"] == "error"
    assert "orders" in report["message"] and "Delta table" in report["message"]
    assert report["dataset_version"] is None


def test_a_folder_that_is_not_a_delta_table_is_a_clear_error(store, tmp_path: Path):
    (tmp_path / "plain").mkdir()
    report = scan(_config(store, tmp_path / "plain"), store, START + timedelta(days=4))
    assert report["status"] == "error"
    assert "no Delta table can be read" in report["message"]


def test_versions_list_and_diff_on_the_command_line(store, tmp_path: Path):
    path = tmp_path / "orders"
    _table_of_days(path, 3)
    config = _config(store, path)
    config_file = tmp_path / "warden.yaml"
    config_file.write_text(json.dumps(config.model_dump(mode="json", exclude_defaults=True)))
    scan(config, store, START + timedelta(days=3))
    deltalake.write_deltalake(
        str(path),
        _day(3).append_column("note", pa.array(["n"] * 300)),
        mode="append",
        partition_by=["day"],
        schema_mode="merge",
    )
    _commit_at(path, 3, START + timedelta(days=4))
    scan(config, store, START + timedelta(days=4))

    def warden(*args: str) -> Ran:
        return run_warden(*args, "-c", str(config_file), cwd=tmp_path)

    listed = warden("versions", "list", "orders", "--json")
    assert listed.code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["version"] for row in rows] == ["2", "3"]
    for row in rows:
        assert {"version", "seen_at", "scan_run_id"} <= row.keys()
        assert isinstance(row["scan_run_id"], int)
    assert rows[1]["rows"] == 4 * 300
    diff = warden("versions", "diff", "2", "3", "--json")
    assert diff.code == 0, diff.stderr
    change = json.loads(diff.stdout)
    assert change["files"]["counts"] == {"added": 1, "removed": 0, "changed": 0, "unchanged": 3}
    assert change["files"]["added"][0].startswith("day=d03/")
    assert change["rows"] == {"from": 900, "to": 1200, "change": 300}
    assert change["columns"]["added"] == {"note": "varchar"}
    shown = warden("versions", "diff", "2", "3")
    assert "1 added" in shown.stdout and "column added: note" in shown.stdout
    unknown = warden("versions", "diff", "2", "99")
    assert unknown.code == 2 and "no recorded version '99'" in unknown.stderr
    other = warden("versions", "list", "nope")
    assert other.code == 2 and "no dataset 'nope'" in other.stderr
