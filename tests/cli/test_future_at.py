"""`warden scan --at` in the future is refused unless asked for with --future."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import run_warden
from tests.cli.test_runs_cli import CONFIG, _write


def test_a_scan_of_a_future_time_needs_future(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG)
    # Two days ahead, as a date: at least 24 h in the future however close to
    # midnight the test starts (a run at 23:59 once saw "tomorrow" arrive).
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused = run_warden("scan", "--at", later, cwd=tmp_path)
    assert refused.code == 2 and "is in the future" in " ".join(refused.stderr.split())
    assert not (tmp_path / "warden.db").exists()  # refused before anything was recorded
    asked = run_warden("scan", "--at", later, "--future", "--json", cwd=tmp_path)
    assert asked.code == 0, asked.stderr
    assert json.loads(asked.stdout)["monitor"] == "quality"
