"""Run the real `warden` executable in a subprocess, as a user would."""

from __future__ import annotations

import os
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
