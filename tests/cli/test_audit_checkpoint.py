"""`warden audit verify` prints a checkpoint and checks one given with --expect."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run_warden
from tests.cli.test_runs_cli import CONFIG, _write


def test_a_checkpoint_is_printed_and_checked(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG)
    assert run_warden("scan", "--at", "2025-03-09", cwd=tmp_path).code == 0
    (first,) = [
        json.loads(line)
        for line in run_warden("audit", "verify", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert first["ok"] and first["last_seq"] == first["checked"] > 0
    checkpoint = f"{first['last_seq']}:{first['last_hash']}"
    assert run_warden("approve", "1", "--as", "alice", cwd=tmp_path).code == 0  # more events
    assert run_warden("audit", "verify", "--expect", checkpoint, cwd=tmp_path).code == 0
    forged = f"{first['last_seq']}:{'0' * 64}"
    broken = run_warden("audit", "verify", "--expect", forged, cwd=tmp_path)
    assert broken.code == 4 and "the trail was rewritten" in " ".join(broken.stdout.split())
    beyond = run_warden("audit", "verify", "--expect", f"999:{'0' * 64}", cwd=tmp_path)
    assert beyond.code == 4 and "truncated" in " ".join(beyond.stdout.split())
    bad = run_warden("audit", "verify", "--expect", "yesterday", cwd=tmp_path)
    assert bad.code == 2 and "SEQ:HASH" in " ".join(bad.stderr.split())
