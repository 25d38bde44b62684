"""Run the real `warden` executable in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

WARDEN = Path(sys.executable).with_name("warden")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def run_warden(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> Ran:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WARDEN_") or k == "WARDEN_TEST_POSTGRES_URL"
    }
    environment.update({"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    done = subprocess.run(
        [str(WARDEN), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ran]:
    """One demo run shared by the tests that read its outcome (it takes ~15 s)."""
    home = tmp_path_factory.mktemp("demo-home")
    ran = run_warden("demo", "my-demo", cwd=home)
    return home, ran


@pytest.fixture
def demo_copy(demo_folder: tuple[Path, Ran], tmp_path: Path) -> Path:
    """A private copy of the shared demo (for tests that change its store)."""
    home, ran = demo_folder
    assert ran.code == 0, ran.stderr
    shutil.copytree(home / "my-demo", tmp_path / "my-demo")
    return tmp_path


def warden_in_demo(home: Path, *args: str) -> Ran:
    """`warden ARGS -c my-demo/warden.yaml` run in `home`."""
    return run_warden(*args, "-c", "my-demo/warden.yaml", cwd=home)


def drifting_events_with_silence(home: Path, extra_config: str = "") -> Path:
    """Eight days of events whose last day drifts and brings a new category (`refund`), a
    drift monitor on the last day (plus `extra_config` YAML), and the new category silenced
    beforehand. Returns `home`, which holds `warden.yaml`."""
    from datetime import timedelta

    import pyarrow.parquet as pq

    from tests.daemon.engine_cases import START, events_table

    pq.write_table(events_table(), home / "events.parquet")
    (home / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n"
        "  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - name: drift\n    kind: drift\n    dataset: events\n    window: 1d\n"
        f"    reference: {{start: '{START.isoformat()}', "
        f"end: '{(START + timedelta(days=7)).isoformat()}'}}\n" + extra_config
    )
    silenced = run_warden(
        *("silences", "add", "-c", "warden.yaml", "--pattern", "category_emergence"),
        *("--start", "2025-01-01", "--for", "1000w", "--reason", "refunds launch"),
        cwd=home,
    )
    assert silenced.code == 0, silenced.stderr
    return home
