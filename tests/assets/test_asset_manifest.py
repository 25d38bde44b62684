"""An asset dataset's manifest: read by DuckDB (CSV or Parquet), it gives files their split
and time; copies across splits are `split_leakage`, rows without a file `missing_asset`,
files without a row `unlisted_asset`. Scanned end to end on SQLite and PostgreSQL stores."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.models import WardenConfig
from daemon.scan.data_checks import check_data
from daemon.scan.runner import run_scan, sync_monitors
from daemon.store.engine import Store
from detectors.assets.manifest import Manifest
from detectors.sources.errors import SourceError
from tests.assets.scenes import encoded, resized, scene

AT = datetime(2025, 6, 2, tzinfo=UTC)
IN_WINDOW = "2025-06-01T12:00:00+02:00"  # 10:00 UTC, inside the day before AT
EARLIER = "2025-05-01"


def _write_manifest(path: Path, rows: list[tuple[str, str | None, str | None]]) -> None:
    lines = ["Path,label,Split,time"]
    lines += [f"{p},cat,{split or ''},{time or ''}" for p, split, time in rows]
    path.write_text("\n".join(lines) + "\n")


def _photos(root: Path) -> None:
    """Ten scenes in train; in eval a byte copy of scene 1, a smaller copy of scene 2 and a
    new scene; a file the manifest forgets; a manifest row whose file is missing."""
    root.mkdir(parents=True)
    rows: list[tuple[str, str | None, str | None]] = []
    for seed in range(10):
        (root / f"train-{seed}.png").write_bytes(encoded(scene(seed), "PNG"))
        rows.append((f"./train-{seed}.png", "train", EARLIER if seed < 5 else IN_WINDOW))
    (root / "eval-copy-1.png").write_bytes((root / "train-1.png").read_bytes())
    (root / "eval-small-2.jpg").write_bytes(encoded(resized(scene(2), 0.6), "JPEG", quality=80))
    (root / "eval-new.png").write_bytes(encoded(scene(30), "PNG"))
    rows += [(name, "eval", IN_WINDOW) for name in ("eval-copy-1.png", "eval-small-2.jpg")]
    rows.append((str(root / "eval-new.png"), "eval", IN_WINDOW))  # absolute, under the root
    rows.append(("eval-gone.png", "eval", IN_WINDOW))
    (root / "forgotten.png").write_bytes(encoded(scene(40), "PNG"))
    os.utime(root / "forgotten.png", (AT.timestamp() - 3600,) * 2)  # in the window by mtime
    _write_manifest(root / "labels.csv", rows)


def _config(root: Path) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {
                "photos": {
                    "format": "files",
                    "path": str(root),
                    "time_from": "manifest",
                    "manifest": str(root / "labels.csv"),
                }
            },
            "monitors": [
                {
                    "name": "photos-integrity",
                    "kind": "assets",
                    "dataset": "photos",
                    "window": "1d",
                    "workers": 1,
                }
            ],
        }
    )


def _findings(report: Any) -> dict[str, dict[str, Any]]:
    return {f["pattern"]: f["details"] for f in report.findings if f["alert"]}


def test_copies_across_splits_missing_and_unlisted_files(tmp_path: Path, store: Store):
    root = tmp_path / "photos"
    _photos(root)
    config = _config(root)
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], AT, store)
    assert report is not None and report.status == "alert", report and report.message
    found = _findings(report)
    # The byte copy of train-1 is also a duplicate; the small copy of train-2 a near one.
    assert set(found) == {
        "duplicate_asset",
        "near_duplicate_asset",
        "split_leakage",
        "missing_asset",
        "unlisted_asset",
    }
    leaks = {pair["path"]: pair for pair in found["split_leakage"]["pairs"]}
    assert set(leaks) == {"eval-copy-1.png", "eval-small-2.jpg"}
    assert leaks["eval-copy-1.png"] == {
        "path": "eval-copy-1.png",
        "original": "train-1.png",
        "split": "eval",
        "original_split": "train",
        "kind": "identical",
    }
    assert leaks["eval-small-2.jpg"]["original"] == "train-2.png"
    assert leaks["eval-small-2.jpg"]["kind"] == "near"
    assert found["missing_asset"] == {"paths": ["eval-gone.png"], "count": 1}
    assert found["unlisted_asset"] == {"paths": ["forgotten.png"], "count": 1}
    # The window holds the files the manifest dates on 1 June (by their offset, in UTC),
    # and the forgotten file by its modification time; not the manifest itself.
    assert report.summary["files"] == 5 + 3 + 1
    assert report.summary["walked"] == 14

    # The manifest moves train-5..9 to May: the next scan takes the new times.
    _write_manifest(
        root / "labels.csv",
        [(f"train-{seed}.png", "train", EARLIER) for seed in range(10)]
        + [(f"eval-{n}", "eval", IN_WINDOW) for n in ("copy-1.png", "small-2.jpg", "new.png")],
    )
    again = run_scan(config, config.monitors[0], AT + timedelta(minutes=5), store)
    assert again is not None and again.summary["read"] == 0
    assert again.summary["files"] == 3 + 1
    assert "missing_asset" not in _findings(again)


def test_the_manifest_is_read_by_the_engine_with_clear_errors(tmp_path: Path):
    root = tmp_path / "photos"
    root.mkdir()
    table = pa.table(
        {
            "PATH": ["a.png", "b.png", "b.png", "c.png"],
            "split": ["train", "eval", "train", None],
            "time": pa.array([datetime(2025, 1, d, 6) for d in (1, 2, 3, 4)], pa.timestamp("us")),
        }
    )
    pq.write_table(table, tmp_path / "m.parquet")
    with Manifest(str(tmp_path / "m.parquet"), str(root)) as manifest:
        assert manifest.columns == ("path", "split", "time") and manifest.rows() == 4
        assert manifest.splits(["a.png", "b.png", "c.png", "z.png"]) == {
            "a.png": "train",
            "b.png": "eval",  # listed twice: the first in order of the values
        }
        assert manifest.times(["b.png"]) == {"b.png": datetime(2025, 1, 2, 6, tzinfo=UTC)}
        missing = manifest.missing(["a.png"], None, None, limit=1)
        assert (missing.paths, missing.count) == (("b.png",), 2)
        window = manifest.missing(
            ["a.png"], datetime(2025, 1, 4, tzinfo=UTC), datetime(2025, 1, 5, tzinfo=UTC), 10
        )
        assert (window.paths, window.count) == (("c.png",), 1)
        assert manifest.unlisted(["a.png", "new.png"], 10).paths == ("new.png",)

    (tmp_path / "nopath.csv").write_text("file,split\na.png,train\n")
    with pytest.raises(SourceError, match="has no `path` column"):
        Manifest(str(tmp_path / "nopath.csv"), str(root))
    (tmp_path / "badtime.csv").write_text("path,time\na.png,yesterday\nb.png,2025-01-01\n")
    with pytest.raises(SourceError, match=r"1 row\(s\) have a time.*'yesterday'"):
        Manifest(str(tmp_path / "badtime.csv"), str(root))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SourceError, match="cannot be read"):
        Manifest(str(tmp_path / "broken.parquet"), str(root))
    with pytest.raises(SourceError, match="is not a readable file"):
        Manifest(str(tmp_path / "nowhere.csv"), str(root))


def test_a_manifest_must_fit_its_dataset(tmp_path: Path):
    files = {"format": "files", "path": str(tmp_path)}
    with pytest.raises(ValueError, match="`time_from: manifest` needs `manifest`"):
        WardenConfig.model_validate({"datasets": {"p": {**files, "time_from": "manifest"}}})
    table = {"format": "parquet", "path": str(tmp_path), "time_column": "ts"}
    with pytest.raises(ValueError, match="`manifest` is for files datasets"):
        WardenConfig.model_validate({"datasets": {"p": {**table, "manifest": "m.csv"}}})
    (tmp_path / "m.csv").write_text("path\na.png\n")
    config = WardenConfig.model_validate(
        {"datasets": {"p": {**files, "time_from": "manifest", "manifest": str(tmp_path / "m.csv")}}}
    )
    (problem,) = check_data(config).problems
    assert "has no `time` column, and time_from is manifest" in str(problem)


def test_rows_may_name_files_through_the_linked_or_the_real_root(tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    (tmp_path / "m.csv").write_text(f"path\n{link}/a.jpg\n{real}/b.jpg\n./c//d/./e.jpg\n")
    with Manifest(str(tmp_path / "m.csv"), str(link)) as manifest:
        listing = manifest.unlisted(["a.jpg", "b.jpg", "c/d/e.jpg", "new.jpg"], 10)
        assert listing.paths == ("new.jpg",)
        assert manifest.missing(["a.jpg", "b.jpg", "c/d/e.jpg"], None, None, 10).count == 0
