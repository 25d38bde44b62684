"""A work_root belongs to one store, and relative paths mean the config file's folder
whatever the current directory and wherever they are given (file or environment)."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.config.loader import load_config
from tests.cli.conftest import run_warden
from tests.cli.test_runs_cli import CONFIG, _write


def test_relative_paths_are_the_config_folders_from_any_directory(tmp_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "warden.yaml").write_text(CONFIG + "playbooks: {stale_run_after: 2s}\n")
    environ = {"WARDEN_STORE__URL": "sqlite:///state/other.db"}
    config = load_config(folder / "warden.yaml", environ=environ)
    # A playbooks block without work_root, and a store URL from the environment.
    assert config.playbooks.work_root == str(folder / "warden-work")
    assert config.store.url == f"sqlite:///{folder / 'state' / 'other.db'}"
    # The container image sets the work_root in the environment (its config is read-only).
    imaged = load_config(folder / "warden.yaml", environ={"WARDEN_PLAYBOOKS__WORK_ROOT": "work"})
    assert imaged.playbooks.work_root == str(folder / "work")
    assert imaged.playbooks.stale_run_after.total_seconds() == 2  # the file's other keys stay


def _quarantine(folder: Path, store: str) -> list[dict]:
    env = {"WARDEN_STORE__URL": store}
    assert run_warden("scan", "--at", "2025-03-09", cwd=folder, env=env).code == 0
    assert run_warden("approve", "1", "--as", "alice", cwd=folder, env=env).code == 0
    ran = run_warden("runs", "execute", "--json", cwd=folder, env=env)
    return [json.loads(line) for line in ran.stdout.splitlines()]


def test_a_second_store_is_refused_the_first_stores_work_root(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG)
    first = _quarantine(tmp_path, "sqlite:///first.db")
    assert [o["status"] for o in first] == ["succeeded"]
    manifest = tmp_path / "warden-work" / "quarantine" / "incident-1" / "manifest.json"
    owner = json.loads((tmp_path / "warden-work" / ".warden-store").read_text())
    assert owner["store_url"].endswith("first.db")

    # The data comes back (released by the first store), and a second store finds the
    # same spike with the same incident id 1: it must not write over incident-1's files.
    released = run_warden(
        "quarantine", "release", "1", cwd=tmp_path, env={"WARDEN_STORE__URL": "sqlite:///first.db"}
    )
    assert released.code == 0, released.stderr
    before = manifest.read_bytes()
    second = _quarantine(tmp_path, "sqlite:///second.db")
    assert [o["status"] for o in second] == ["failed"]
    assert "belongs to another Warden store" in second[0]["message"]
    assert manifest.read_bytes() == before  # the first store's record is intact
    assert (tmp_path / "data" / "date=2025-03-08" / "part-0.parquet").exists()  # not moved
