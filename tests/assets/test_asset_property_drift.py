"""Property drift of asset files, scanned end to end: a week of drawn scenes is the
reference; a day drawn the same way raises nothing (a null scenario: a false alarm fails),
a day from a new camera (darker, another resolution) drifts in exactly the properties that
changed, and the comparison agrees with scipy's exact two-sample KS test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from scipy.stats import ks_2samp
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.scan.asset_properties import property_drift
from daemon.scan.runner import run_scan, sync_monitors
from daemon.scan.windows import Window
from daemon.store.asset_models import AssetRecord
from daemon.store.engine import Store
from detectors.drift.params import DriftParams
from tests.assets.scenes import brightened, encoded, scene
from tests.cli.conftest import run_warden

FIRST = date(2025, 6, 1)
AT = datetime(2025, 6, 9, tzinfo=UTC)  # the scan: the current window is 8 June
PER_DAY = 12


def _day(
    root: Path, day: int, seeds: range, darker: bool = False, size: tuple[int, int] = (192, 144)
) -> None:
    folder = root / f"date={FIRST + timedelta(days=day)}"
    folder.mkdir(parents=True)
    for seed in seeds:
        image = scene(seed, size)
        if darker:
            image = brightened(image, 0.55)
        (folder / f"{seed}.png").write_bytes(encoded(image, "PNG"))


def _config(root: Path) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {"photos": {"format": "files", "path": str(root), "time_from": "path"}},
            "monitors": [
                {
                    "name": "photos-look",
                    "kind": "assets",
                    "dataset": "photos",
                    "window": "1d",
                    "reference": {"offset": "1d", "window": "7d"},
                    "workers": 2,
                }
            ],
        }
    )


def _drifted(report: Any) -> set[str]:
    return {
        f["column"]
        for f in report.findings
        if f["alert"] and f["pattern"] == "asset_property_drift"
    }


def _week(root: Path) -> None:
    for day in range(7):
        _day(root, day, range(day * PER_DAY, (day + 1) * PER_DAY))


def test_a_day_like_the_week_before_raises_nothing(tmp_path: Path, store: Store):
    root = tmp_path / "photos"
    _week(root)
    _day(root, 7, range(500, 500 + 3 * PER_DAY))
    config = _config(root)
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], AT, store)
    assert report is not None and report.status == "ok", report and report.findings
    assert report.summary["property_drift"].startswith("0 of ")
    assert report.windows["reference"]["start"] == "2025-06-01T00:00:00+00:00"


def test_a_new_camera_drifts_in_the_properties_that_changed(tmp_path: Path, store: Store):
    root = tmp_path / "photos"
    _week(root)
    _day(root, 7, range(500, 500 + 3 * PER_DAY), darker=True, size=(256, 192))
    config = _config(root)
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], AT, store)
    assert report is not None and report.status == "alert"
    # Brightness fell; width and height are new values (one size each before and after);
    # the aspect ratio (4:3 both) did not change.
    assert {"brightness", "width", "height"} <= _drifted(report)
    assert "aspect" not in _drifted(report)


def test_the_statistic_is_scipys_exact_ks(tmp_path: Path, store: Store):
    root = tmp_path / "photos"
    _week(root)
    _day(root, 7, range(500, 500 + 3 * PER_DAY), darker=True)
    config = _config(root)
    sync_monitors(store, config)
    run_scan(config, config.monitors[0], AT, store)  # records the files
    current = Window("photos", AT - timedelta(days=1), AT)
    reference = Window("photos", AT - timedelta(days=8), AT - timedelta(days=1))
    result = property_drift(store, current, reference, DriftParams(correction="none"))
    (brightness,) = [f for f in result.findings if f.column == "brightness"]
    assert brightness.method == "ks"
    with store.session(readonly=True) as session:
        records = session.exec(select(AssetRecord)).all()
    values: dict[str, list[float | None]] = {"current": [], "reference": []}
    for record in records:
        side = "current" if record.event_time >= current.start else "reference"
        values[side].append(record.brightness)
    exact = ks_2samp(values["reference"], values["current"], method="exact")
    assert brightness.statistic is not None and brightness.p_value is not None
    assert abs(brightness.statistic - exact.statistic) < 1e-12
    assert abs(brightness.p_value - exact.pvalue) < 1e-9


def test_a_drifted_property_proposes_a_batch_of_the_files_to_label(tmp_path: Path):
    root = tmp_path / "photos"
    _week(root)
    _day(root, 7, range(500, 500 + 3 * PER_DAY), darker=True)
    (tmp_path / "warden.yaml").write_text(
        "datasets:\n  photos: {format: files, path: photos, time_from: path}\n"
        "monitors:\n  - name: photos-look\n    kind: assets\n    dataset: photos\n"
        "    window: 1d\n    reference: {offset: 1d, window: 7d}\n    workers: 1\n"
    )
    scan = run_warden("scan", "--at", "2025-06-09", "--json", cwd=tmp_path)
    assert scan.code == 0, scan.stderr
    (run,) = [
        json.loads(line)
        for line in run_warden("runs", "list", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert run["playbook"] == "relabel_batch"
    assert run_warden("approve", str(run["id"]), "--as", "alice", cwd=tmp_path).code == 0
    executed = run_warden("runs", "execute", "--json", cwd=tmp_path)
    (outcome,) = [json.loads(line) for line in executed.stdout.splitlines()]
    assert outcome["status"] == "succeeded", (outcome, executed.stderr)
    (tasks_file,) = (tmp_path / "warden-work" / "relabel").rglob("tasks.jsonl")
    tasks = [json.loads(line) for line in tasks_file.read_text().splitlines()]
    assert len(tasks) == 3 * PER_DAY  # every file of the drifted day, none of the week
    for task in tasks:
        data = task["data"]
        assert data["path"].startswith("date=2025-06-08/") and data["kind"] == "image"
        url = data["image"]
        assert url.startswith("/data/local-files/?d=")
        # Label Studio's document root defaults to /: d is the file's path below it.
        served = Path("/") / unquote(url.removeprefix("/data/local-files/?d="))
        assert served == (root / data["path"]).resolve()
        assert served.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
