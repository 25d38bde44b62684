"""A data file truncated by a writer while a monitor scans it (issue 16, item 8).

The scan is held right after its dataset is opened (`WARDEN_TEST_PAUSE_AT`), when every file
has passed its footer check; the test truncates one partition and releases it. Before the
fix the engine's read failed and the whole tick was `error`; now the scan runs again on the
files as they are, and the truncated file is a `corrupt_partition` finding.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from daemon.config.models import WardenConfig
from daemon.crash_points import PAUSE_AT_VARIABLE
from daemon.scan.file_changes import changed_paths, file_fingerprints
from daemon.scan.runner import run_scan, sync_monitors
from daemon.store.engine import Store
from tests.daemon.engine_cases import AT, engine_config, events_table

#: How long the test waits for the scan to reach its pause point, in seconds.
REACH_TIMEOUT = 60


def _two_partitions(folder: Path) -> tuple[Path, Path]:
    table = events_table()
    half = table.num_rows // 2
    first, second = folder / "part-0.parquet", folder / "part-1.parquet"
    # The later half (with the drifted last day) in its own file, several row groups each.
    pq.write_table(table.slice(0, half), first, row_group_size=400)
    pq.write_table(table.slice(half), second, row_group_size=400)
    return first, second


@pytest.fixture
def scan_setup(store: Store, store_url: str, tmp_path: Path) -> Iterator[tuple[WardenConfig, Path]]:
    data = tmp_path / "events"
    data.mkdir()
    _, second = _two_partitions(data)
    config = engine_config(str(store_url), {"format": "parquet", "path": str(data)})
    sync_monitors(store, config)
    yield config, second


def _truncate_when_paused(release: Path, victim: Path, done: threading.Event) -> None:
    reached = Path(f"{release}.reached")
    for _ in range(REACH_TIMEOUT * 20):
        if reached.exists():
            break
        threading.Event().wait(0.05)
    else:
        release.touch()
        return
    size = victim.stat().st_size
    with open(victim, "r+b") as handle:
        handle.truncate(size // 2)
    done.set()
    release.touch()


@pytest.mark.parametrize("monitor_name", ["quality", "drift"])
def test_a_partition_truncated_mid_scan_is_reported_not_an_error_tick(
    scan_setup: tuple[WardenConfig, Path],
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    monitor_name: str,
):
    config, victim = scan_setup
    release = tmp_path / "release"
    monkeypatch.setenv(PAUSE_AT_VARIABLE, f"scan.dataset_opened={release}")
    truncated = threading.Event()
    writer = threading.Thread(
        target=_truncate_when_paused, args=(release, victim, truncated), daemon=True
    )
    writer.start()
    report = run_scan(config, config.monitor(monitor_name), AT, store)
    writer.join(timeout=REACH_TIMEOUT)
    assert truncated.is_set(), "the scan never reached its pause point: nothing was tested"
    assert report is not None
    assert report.status != "error", report.message
    if monitor_name == "quality":
        corrupt = [f for f in report.findings if f["pattern"] == "corrupt_partition"]
        assert [f["details"]["path"] for f in corrupt] == [str(victim.resolve())]
        assert report.status == "alert"
    else:
        # The drifted last day lived in the truncated file: the rescan has no current rows.
        assert report.status == "insufficient_data", report.message


def test_fingerprints_see_a_truncated_a_removed_and_an_added_file(tmp_path: Path):
    data = tmp_path / "events"
    data.mkdir()
    first, second = _two_partitions(data)
    config = engine_config(
        f"sqlite:///{tmp_path}/warden.db", {"format": "parquet", "path": str(data)}
    )
    monitor = config.monitor("drift")
    before = file_fingerprints(config, monitor)
    assert sorted(before) == [str(first.resolve()), str(second.resolve())]
    assert changed_paths(before, file_fingerprints(config, monitor)) == []
    with open(second, "r+b") as handle:
        handle.truncate(10)
    first.unlink()
    added = data / "part-2.parquet"
    added.write_bytes(b"PAR1")
    assert changed_paths(before, file_fingerprints(config, monitor)) == sorted(
        str(path.resolve()) for path in (first, second, added)
    )
