"""`kind: assets` monitors end to end through `run_scan`, on SQLite and PostgreSQL stores: a
folder the test draws (distinct scenes, a cut file, a byte copy, a re-encoded copy) gives
exactly the known findings; a rescan reads nothing again; a new file is read alone; a
removed copy stops being reported."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.config.models import WardenConfig
from daemon.scan.asset_evaluator import file_time
from daemon.scan.runner import run_scan, sync_monitors
from daemon.scan.version_records import version_rows
from daemon.store.engine import Store
from detectors.assets.inspect import FAULT_VARIABLE
from detectors.assets.walk import FoundFile
from tests.assets.scenes import encoded, resized, scene

AT = datetime(2025, 6, 2, tzinfo=UTC)
DAY = "date=2025-06-01"


def _folder(root: Path) -> None:
    day = root / DAY
    day.mkdir(parents=True)
    for seed in range(10):
        (day / f"scene-{seed}.png").write_bytes(encoded(scene(seed), "PNG"))
    good = encoded(scene(20), "JPEG", quality=90)
    (day / "cut.jpg").write_bytes(good[: len(good) // 2])
    (day / "copy-of-3.png").write_bytes((day / "scene-3.png").read_bytes())
    # Found by the same scan: the one modified later is the copy, whatever the names say.
    original = os.stat(day / "scene-3.png").st_mtime_ns
    os.utime(day / "copy-of-3.png", ns=(original + 10**9, original + 10**9))
    (day / "smaller-5.jpg").write_bytes(encoded(resized(scene(5), 0.6), "JPEG", quality=70))
    old = root / "date=2025-05-01"  # outside the window: read and recorded, not reported
    old.mkdir()
    (old / "old-cut.png").write_bytes(b"not a png")


def _config(root: Path, **params: Any) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {"photos": {"format": "files", "path": str(root), "time_from": "path"}},
            "monitors": [
                {
                    "name": "photos-integrity",
                    "kind": "assets",
                    "dataset": "photos",
                    "window": "2d",  # the dated day, for scans on the next day
                    "workers": 2,
                    **params,
                }
            ],
        }
    )


def _findings(report: Any) -> dict[str, dict[str, Any]]:
    return {f["pattern"]: f["details"] for f in report.findings if f["alert"]}


def _scan(config: WardenConfig, store: Store, at: datetime = AT) -> Any:
    report = run_scan(config, config.monitors[0], at, store)
    assert report is not None
    return report


def test_a_drawn_folder_gives_exactly_its_known_problems(tmp_path: Path, store: Store):
    root = tmp_path / "photos"
    _folder(root)
    config = _config(root)
    sync_monitors(store, config)
    report = _scan(config, store)
    assert report.status == "alert", report.message
    found = _findings(report)
    assert set(found) == {"corrupt_asset", "duplicate_asset", "near_duplicate_asset"}
    assert found["corrupt_asset"]["paths"] == [f"{DAY}/cut.jpg"]
    assert found["corrupt_asset"]["reasons"] == {f"{DAY}/cut.jpg": "undecodable"}
    assert found["duplicate_asset"]["pairs"] == [
        {"path": f"{DAY}/copy-of-3.png", "original": f"{DAY}/scene-3.png"}
    ]
    (near,) = found["near_duplicate_asset"]["pairs"]
    assert {near["path"], near["original"]} == {f"{DAY}/scene-5.png", f"{DAY}/smaller-5.jpg"}
    assert near["phash_distance"] <= 10 and near["dhash_distance"] <= 12
    assert report.summary["read"] == 14 and report.summary["files"] == 13
    # The version read: the window's 13 files (not May's), each with its content hash.
    assert report.dataset_version_kind == "files"
    with store.session(readonly=True) as session:
        (version,) = version_rows(session, "photos")
    assert version.version == report.dataset_version and version.details["file_count"] == 13
    copied = {item["path"]: item["digest"] for item in version.details["files"]}
    assert copied[f"{DAY}/copy-of-3.png"] == copied[f"{DAY}/scene-3.png"] is not None

    again = _scan(config, store, AT + timedelta(minutes=5))
    assert again.summary["read"] == 0  # nothing new or changed: nothing decoded again
    assert _findings(again) == found
    assert again.dataset_version == report.dataset_version

    (root / DAY / "scene-11.png").write_bytes(encoded(scene(11), "PNG"))
    os.remove(root / DAY / "copy-of-3.png")
    third = _scan(config, store, AT + timedelta(minutes=10))
    assert third.summary["read"] == 1 and third.summary["gone"] == 1
    assert third.dataset_version != report.dataset_version
    assert set(_findings(third)) == {"corrupt_asset", "near_duplicate_asset"}


def test_a_file_that_could_not_be_read_is_read_again_at_the_next_scan(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "photos"
    _folder(root)
    config = _config(root, seconds_per_file=2)
    sync_monitors(store, config)
    monkeypatch.setenv(FAULT_VARIABLE, f"hang:{DAY}/scene-0.png")
    first = _scan(config, store)
    assert _findings(first)["unreadable_asset"]["reasons"] == {f"{DAY}/scene-0.png": "timeout"}
    monkeypatch.delenv(FAULT_VARIABLE)
    second = _scan(config, store, AT + timedelta(minutes=5))
    assert second.summary["read"] == 1  # the timed-out file only, not the others
    assert "unreadable_asset" not in _findings(second)


def test_a_missing_folder_is_a_monitor_error_not_a_crash(tmp_path: Path, store: Store):
    config = _config(tmp_path / "nowhere")
    sync_monitors(store, config)
    report = _scan(config, store)
    assert report.status == "error" and "cannot be read" in report.message


def test_an_empty_window_is_insufficient_data(tmp_path: Path, store: Store):
    root = tmp_path / "photos"
    _folder(root)
    config = _config(root)
    sync_monitors(store, config)
    report = _scan(config, store, AT + timedelta(days=30))
    assert report.status == "insufficient_data"


def test_a_file_time_comes_from_a_hive_folder_or_the_modification_time():
    mtime = int(datetime(2025, 1, 9, tzinfo=UTC).timestamp() * 1e9)
    dated = FoundFile("camera=2/date=2025-03-04/a.jpg", 1, mtime, 1)
    assert file_time(dated, "path") == datetime(2025, 3, 4, tzinfo=UTC)
    assert file_time(dated, "mtime") == datetime(2025, 1, 9, tzinfo=UTC)
    undated = FoundFile("camera=2/a.jpg", 1, mtime, 1)
    assert file_time(undated, "path") == datetime(2025, 1, 9, tzinfo=UTC)
    out_of_range = FoundFile("date=0001-01-01T00:00+01:00/a.jpg", 1, mtime, 1)
    assert file_time(out_of_range, "path") == datetime(2025, 1, 9, tzinfo=UTC)


def test_one_assets_monitor_per_dataset():
    monitor = {"kind": "assets", "dataset": "d", "window": "1d"}
    with pytest.raises(ValueError, match="one assets monitor per dataset"):
        WardenConfig.model_validate(
            {
                "datasets": {"d": {"format": "files", "path": "x"}},
                "monitors": [{"name": "a", **monitor}, {"name": "b", **monitor}],
            }
        )


@pytest.mark.parametrize(
    ("dataset", "monitor", "message"),
    [
        ({"format": "files", "path": "x"}, {"kind": "drift"}, "watch it with kind: assets"),
        (
            {"format": "parquet", "path": "x", "time_column": "t"},
            {"kind": "assets"},
            "an assets monitor watches a files dataset",
        ),
        (
            {"format": "files", "path": "x", "time_column": "t"},
            {"kind": "assets"},
            "no `time_column`",
        ),
    ],
)
def test_kinds_and_formats_must_fit(dataset: dict, monitor: dict, message: str):
    extra = {"reference": {"offset": "7d", "window": "1d"}} if monitor["kind"] == "drift" else {}
    with pytest.raises(ValueError, match=message):
        WardenConfig.model_validate(
            {
                "datasets": {"d": dataset},
                "monitors": [{"name": "m", "dataset": "d", "window": "1d", **monitor, **extra}],
            }
        )
