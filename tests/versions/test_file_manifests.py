"""A file dataset's version: a manifest of the files in the scan's windows, whose Parquet
footers are digested without reading a data page."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import select

from daemon.store.models import ScanRun
from daemon.store.version_models import DatasetVersionRecord
from detectors.versions.file_manifest import ManifestEntry, footer_digest, manifest_version
from tests.versions.scans import config_for, drift_monitor, scan

START = datetime(2025, 1, 1, tzinfo=UTC)


def _day(day: int, rows: int = 200, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed + day)
    base = START + timedelta(days=day)
    return pa.table(
        {
            "ts": pa.array(
                [base + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 86_400, rows))],
                pa.timestamp("us", tz="UTC"),
            ),
            "x": rng.normal(0, 1, rows),
        }
    )


def _write_days(folder: Path, days: range) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for day in days:
        pq.write_table(_day(day), folder / f"day-{day:02d}.parquet")


def test_footer_digest_is_the_sha256_of_the_footer_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(_day(0), path)
    data = path.read_bytes()
    length = pq.read_metadata(path).serialized_size  # what pyarrow says the footer is
    assert data[-4:] == b"PAR1"
    expected = hashlib.sha256(data[-8 - length : -8]).hexdigest()
    assert footer_digest(str(path)) == expected


def test_footer_digest_changes_with_the_rows_not_only_the_size(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(_day(0, seed=1), path)
    before, size = footer_digest(str(path)), path.stat().st_size
    stat = os.stat(path)
    pq.write_table(_day(0, seed=2), path)  # other values, same row count
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time: a sneaky rewrite
    assert footer_digest(str(path)) != before
    assert abs(path.stat().st_size - size) < 200


def test_footer_digest_of_what_is_not_plain_parquet_is_none(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(b"PAR1")
    (tmp_path / "text.parquet").write_bytes(b"a,b\n1,2\n" * 10)
    encrypted = tmp_path / "enc.parquet"
    encrypted.write_bytes(b"PAR1" + b"\0" * 40 + (20).to_bytes(4, "little") + b"PARE")
    lying = tmp_path / "lying.parquet"  # a footer length longer than the file
    lying.write_bytes(b"PAR1" + b"\0" * 8 + (10_000).to_bytes(4, "little") + b"PAR1")
    for name in ("short", "text.parquet", "enc.parquet", "lying.parquet"):
        assert footer_digest(str(tmp_path / name)) is None, name


def test_manifest_id_ignores_order_and_changes_with_any_field() -> None:
    entries = [ManifestEntry("b", 2, 20, "d2"), ManifestEntry("a", 1, 10, None)]
    version = manifest_version(entries, windows={"current": ["x", "y"]})
    assert version.version == manifest_version(entries[::-1]).version  # details are not the id
    assert len(version.version) == 16 and version.details["file_count"] == 2
    for changed in (
        ManifestEntry("b", 3, 20, "d2"),
        ManifestEntry("b", 2, 21, "d2"),
        ManifestEntry("b", 2, 20, "d3"),
        ManifestEntry("c", 2, 20, "d2"),
    ):
        assert manifest_version([entries[1], changed]).version != version.version


def test_a_scan_names_the_files_in_its_windows_and_records_the_version(store, tmp_path):
    folder = tmp_path / "events"
    _write_days(folder, range(10))
    config = config_for(
        store,
        {"events": {"format": "parquet", "path": str(folder), "time_column": "ts"}},
        [drift_monitor("events")],
    )
    first = scan(config, store, START + timedelta(days=8))
    assert first["status"] == "ok", first["message"]
    assert first["dataset_version_kind"] == "files"
    row = _only_version(store)
    listed = [Path(item["path"]).name for item in row.details["files"]]
    # The reference is 1-3 January (files of days 0-2), the current window 8 January (day
    # 7): each file's footer statistics give its time range.
    assert listed == ["day-00.parquet", "day-01.parquet", "day-02.parquet", "day-07.parquet"]
    with store.session(readonly=True) as session:
        run = session.get(ScanRun, first["scan_run_id"])
        assert run is not None and run.dataset_version == first["dataset_version"]
    assert row.first_scan_run_id == first["scan_run_id"] and row.scans == 1
    assert row.columns["x"] == "float64"

    # A file for a day no window reads: the version read is the same.
    pq.write_table(_day(20), folder / "day-20.parquet")
    again = scan(config, store, START + timedelta(days=8))
    assert again["dataset_version"] == first["dataset_version"]
    # A file rewritten in the current window: another version.
    pq.write_table(_day(7, seed=99), folder / "day-07.parquet")
    rewritten = scan(config, store, START + timedelta(days=8))
    assert rewritten["dataset_version"] != first["dataset_version"]


def test_files_whose_time_range_is_unknown_are_always_listed(store, tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    for day in range(4):
        _day(day).to_pandas().to_csv(folder / f"day-{day}.csv", index=False)
    config = config_for(
        store,
        {"events": {"format": "csv", "path": str(folder), "time_column": "ts"}},
        [drift_monitor("events", reference={"start": "2025-01-01", "end": "2025-01-02"})],
    )
    report = scan(config, store, START + timedelta(days=3))
    assert report["status"] == "ok", report["message"]
    row = _only_version(store)
    assert row.details["file_count"] == 4  # a CSV's rows could be of any day
    assert all(item["digest"] is None for item in row.details["files"])


def _only_version(store) -> DatasetVersionRecord:
    with store.session(readonly=True) as session:
        rows = session.exec(select(DatasetVersionRecord)).all()
    assert len(rows) == 1
    return rows[0]


def test_a_version_of_very_many_files_keeps_counts_not_a_list(monkeypatch) -> None:
    from detectors.versions import base
    from detectors.versions.diff import diff_versions

    monkeypatch.setattr(base, "MAX_LISTED_FILES", 3)
    small = manifest_version([ManifestEntry(f"f{n}", 1, 1) for n in range(3)])
    large = manifest_version([ManifestEntry(f"f{n}", 1, 1) for n in range(4)])
    assert small.details["files_listed"] and len(small.details["files"]) == 3
    assert not large.details["files_listed"] and "files" not in large.details
    assert large.details["file_count"] == 4 and large.details["bytes"] == 4
    change = diff_versions(small, large)
    assert change["files"] is None and change["files_listed"] is False
