"""A run's phase is stored, and a worker that takes a run over resumes that phase: a run
killed while verifying is verified, not applied again; a run killed while rolling back is
rolled back, never applied again; a verify longer than `stale_run_after` keeps its run.

Real `warden runs execute` processes stop themselves at named points
(`WARDEN_TEST_STOP_AT`, `WARDEN_TEST_PAUSE_AT`), on SQLite and PostgreSQL stores. A killed
worker's heartbeat is aged in the store (time passing, without sleeping) before the next
worker looks for abandoned runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from daemon.store.engine import open_store
from daemon.store.models import AuditEvent, PlaybookRun
from tests.cli.conftest import WARDEN, run_warden
from tests.cli.test_runs_cli import CONFIG, DAY, _write, age_heartbeat

pytestmark = pytest.mark.slow

SPIKED_DAY = "date=2025-03-08"


def _approved_quarantine(folder: Path, store_url: str) -> Path:
    """Eight days of data whose last day has a null spike, scanned, and the quarantine of
    that day approved; returns the spiked file."""
    _write(folder / "data")
    (folder / "warden.yaml").write_text(CONFIG + "playbooks: {stale_run_after: 2s}\n")
    env = {"WARDEN_STORE__URL": store_url}
    assert run_warden("scan", "--at", "2025-03-09", cwd=folder, env=env).code == 0
    approved = run_warden("approve", "1", "--as", "alice", cwd=folder, env=env)
    assert approved.code == 0, approved.stderr
    return folder / "data" / SPIKED_DAY / "part-0.parquet"


def _execute(folder: Path, store_url: str, **env: str) -> tuple[int, list[dict]]:
    ran = run_warden(
        "runs", "execute", "--json", cwd=folder, env={"WARDEN_STORE__URL": store_url, **env}
    )
    return ran.code, [json.loads(line) for line in ran.stdout.splitlines() if line.strip()]


def _run(store_url: str) -> PlaybookRun:
    with open_store(store_url) as store, store.session(readonly=True) as session:
        run = session.get(PlaybookRun, 1)
        assert run is not None
        return run


def _run_events(store_url: str) -> list[tuple[str, dict]]:
    with open_store(store_url) as store, store.session(readonly=True) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [(e.action, e.payload or {}) for e in events if e.entity_type == "playbook_run"]


def _moves(store_url: str) -> int:
    return sum(
        1
        for action, payload in _run_events(store_url)
        if action == "run.step" and payload["step"]["action"] == "move"
    )


def test_a_run_killed_while_verifying_is_verified_not_applied_again(tmp_path: Path, store_url: str):
    spiked = _approved_quarantine(tmp_path, store_url)
    code, _ = _execute(tmp_path, store_url, WARDEN_TEST_STOP_AT="run.verifying")
    assert code == -signal.SIGKILL  # it reached the point and died there
    run = _run(store_url)
    assert (run.status, run.phase) == ("running", "verifying")
    assert not spiked.exists() and _moves(store_url) == 1

    age_heartbeat(store_url)
    code, outcomes = _execute(tmp_path, store_url)
    assert code == 0 and [o["status"] for o in outcomes] == ["succeeded"], outcomes
    actions = [action for action, _ in _run_events(store_url)]
    assert actions.count("run.taken_over") == 1 and actions.count("run.succeeded") == 1
    assert _moves(store_url) == 1  # the takeover verified; it did not apply again
    assert _run(store_url).phase is None


def test_a_run_killed_while_rolling_back_is_rolled_back_never_applied_again(
    tmp_path: Path, store_url: str
):
    spiked = _approved_quarantine(tmp_path, store_url)
    original = spiked.read_bytes()
    # A second file of the spiked day arrives after the plan: the quarantine leaves it
    # there, so the verify still finds the spike and the run must roll back.
    late = spiked.with_name("part-1.parquet")
    times = [DAY + timedelta(days=7, minutes=30 * h + 7) for h in range(48)]
    values = [None if h % 2 else float(h) for h in range(48)]
    pq.write_table(pa.table({"ts": pa.array(times, pa.timestamp("us", "UTC")), "x": values}), late)

    code, _ = _execute(tmp_path, store_url, WARDEN_TEST_STOP_AT="run.rollback_step:1")
    assert code == -signal.SIGKILL
    run = _run(store_url)
    assert (run.status, run.phase) == ("running", "rolling_back")
    assert run.error is not None and "verification failed" in run.error
    assert spiked.read_bytes() == original  # the first restore was done before the kill

    age_heartbeat(store_url)
    code, outcomes = _execute(tmp_path, store_url)
    assert [o["status"] for o in outcomes] == ["rolled_back"], outcomes
    assert "verification failed" in outcomes[0]["message"]
    assert _moves(store_url) == 1  # never applied again during or after the rollback
    assert spiked.read_bytes() == original and late.exists()
    listed = run_warden(
        "quarantine", "list", "--json", cwd=tmp_path, env={"WARDEN_STORE__URL": store_url}
    )
    assert listed.code == 0, listed.stderr
    (quarantine,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert quarantine["status"] == "released"


def _wait_for(condition, what: str, process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Poll `condition` (an event in the store or on disk) until it holds; fail if the
    process ends first or after two minutes."""
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, f"the worker ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_verify_longer_than_stale_run_after_keeps_its_run(tmp_path: Path, store_url: str):
    spiked = _approved_quarantine(tmp_path, store_url)
    release = tmp_path / "release-verify"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    environment.update(
        {"WARDEN_STORE__URL": store_url, "WARDEN_TEST_PAUSE_AT": f"run.verifying={release}"}
    )
    worker = subprocess.Popen(
        [str(WARDEN), "runs", "execute", "--json"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reached = Path(f"{release}.reached")
        _wait_for(reached.exists, "the verify started", worker)
        entered = _run(store_url).heartbeat_at
        assert entered is not None
        # The verify goes on past stale_run_after (2 s); the heartbeat must keep up.
        _wait_for(
            lambda: (_run(store_url).heartbeat_at or entered) > entered + timedelta(seconds=3),
            "the heartbeat to go on past stale_run_after",
            worker,
        )
        code, outcomes = _execute(tmp_path, store_url)
        assert code == 0 and outcomes == []  # nothing abandoned: the run is not taken over
        release.touch()
        out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err
    assert [json.loads(line)["status"] for line in out.splitlines()] == ["succeeded"]
    actions = [action for action, _ in _run_events(store_url)]
    assert "run.taken_over" not in actions and _moves(store_url) == 1
    assert not spiked.exists()
