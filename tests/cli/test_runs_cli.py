"""From a scan to an approved run on the command line: the proposal is listed with its plan,
a person approves it, and a second decision is refused."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from daemon.store.engine import open_store
from daemon.store.models import PlaybookRun

from .conftest import WARDEN, run_warden

DAY = datetime(2025, 3, 1, tzinfo=UTC)
#: A quality monitor on eight days of `events`, the last one with a null spike.
CONFIG = (
    "datasets:\n  events: {format: parquet, path: data, time_column: ts}\n"
    "monitors:\n  - name: quality\n    kind: quality\n    dataset: events\n"
    "    window: 1d\n    reference: {start: '2025-03-01', end: '2025-03-06'}\n"
)


def _write(folder: Path) -> None:
    for day in range(8):
        start = DAY + timedelta(days=day)
        values = [None if day == 7 and h % 2 else float(h) for h in range(48)]  # a null spike
        target = folder / f"date={start.date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        times = [start + timedelta(minutes=30 * h) for h in range(48)]
        pq.write_table(
            pa.table({"ts": pa.array(times, pa.timestamp("us", "UTC")), "x": values}), target
        )


def test_scan_proposes_and_a_person_approves(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG)
    scan = run_warden("scan", "--at", "2025-03-09", "--json", cwd=tmp_path)
    assert scan.code == 0, scan.stderr
    assert ("null_spike", "x") in {
        (f["pattern"], f["column"]) for f in json.loads(scan.stdout)["findings"] if f["alert"]
    }
    (run,) = [
        json.loads(line)
        for line in run_warden("runs", "list", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert (run["playbook"], run["status"], run["approval_policy"]) == (
        "quarantine",
        "proposed",
        "human",
    )
    shown = run_warden("runs", "show", str(run["id"]), cwd=tmp_path)
    assert "date=2025-03-08" in shown.stdout and run["plan_hash"] in shown.stdout
    approved = run_warden("approve", str(run["id"]), "--as", "alice", cwd=tmp_path)
    assert approved.code == 0 and "approved" in approved.stdout
    late = run_warden("reject", str(run["id"]), "--reason", "no", "--as", "bob", cwd=tmp_path)
    assert late.code == 2 and "only a proposed run can be decided" in late.stderr
    detail = json.loads(run_warden("runs", "show", str(run["id"]), "--json", cwd=tmp_path).stdout)
    assert [(d["actor"], d["decision"]) for d in detail["decisions"]] == [("alice", "approve")]
    assert detail["status"] == "approved"
    missing = run_warden("approve", "99", cwd=tmp_path)
    assert missing.code == 2 and "there is no run 99" in missing.stderr

    spiked = tmp_path / "data" / "date=2025-03-08" / "part-0.parquet"
    original = spiked.read_bytes()
    executed = run_warden("runs", "execute", "--json", cwd=tmp_path)
    (outcome,) = [json.loads(line) for line in executed.stdout.splitlines()]
    assert outcome["status"] == "succeeded", (outcome, executed.stderr)
    assert not spiked.exists()
    incidents = run_warden("incidents", "list", "--json", cwd=tmp_path).stdout.splitlines()
    assert json.loads(incidents[0])["status"] == "resolved"
    (quarantined,) = [
        json.loads(line)
        for line in run_warden("quarantine", "list", "--json", cwd=tmp_path).stdout.splitlines()
    ]
    assert quarantined["status"] == "quarantined" and len(quarantined["files"]) == 1
    released = run_warden(
        "quarantine", "release", str(run["incident_id"]), "--as", "alice", cwd=tmp_path
    )
    assert released.code == 0 and "1 file(s) back in place" in released.stdout
    assert spiked.read_bytes() == original
    again = run_warden("quarantine", "release", str(run["incident_id"]), cwd=tmp_path)
    assert again.code == 2 and "released already" in again.stderr


def reader_reached(fifo: Path, process: subprocess.Popen, timeout: float = 120) -> int:  # type: ignore[type-arg]
    """Wait until some process has opened `fifo` for reading (and so hangs on the read), an
    event the kernel tells: opening the write end without blocking fails (ENXIO) until a
    reader is there. Returns the write end, held open so that the read keeps hanging; the
    caller closes it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO:
                raise
        assert process.poll() is None, "the process ended before it opened the FIFO"
        assert time.monotonic() < deadline, "nobody opened the FIFO for reading"
        time.sleep(0.05)


def age_heartbeat(store_url: str, run_id: int = 1) -> None:
    """Make a killed worker's heartbeat older than stale_run_after (time passing, without
    sleeping)."""
    with open_store(store_url) as store, store.session() as session:
        run = session.get(PlaybookRun, run_id)
        assert run is not None and run.heartbeat_at is not None
        run.heartbeat_at = run.heartbeat_at - timedelta(hours=1)
        session.add(run)


def _workers(pid: int) -> list[int]:
    """The playbook worker processes `pid` started (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command:
                found.append(int(child))
    return found


def _gone(pid: int) -> bool:
    """True when `pid` has exited (gone, or a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _run_status(folder: Path, run_id: int) -> str:
    with sqlite3.connect(folder / "warden.db") as connection:
        (status,) = connection.execute(
            "SELECT status FROM playbook_run WHERE id = ?", (run_id,)
        ).fetchone()
    return status


def test_sigkill_during_a_run_then_the_next_worker_finishes_it_exactly_once(tmp_path: Path):
    _write(tmp_path / "data")
    (tmp_path / "warden.yaml").write_text(CONFIG + "playbooks: {stale_run_after: 2s}\n")
    assert run_warden("scan", "--at", "2025-03-09", cwd=tmp_path).code == 0  # alerts: exit 0
    assert run_warden("approve", "1", "--as", "alice", cwd=tmp_path).code == 0
    spiked = tmp_path / "data" / "date=2025-03-08" / "part-0.parquet"
    original = spiked.read_bytes()
    # Make the move hang: the file becomes a FIFO that nobody writes to (a hung mount).
    spiked.unlink()
    os.mkfifo(spiked)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    worker = subprocess.Popen(
        [str(WARDEN), "runs", "execute"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not _workers(worker.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        (child,) = _workers(worker.pid)
        assert _run_status(tmp_path, 1) == "running"
        writer = reader_reached(spiked, worker)  # the child hangs on the read: kill now
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    # The orphaned child notices its parent died and exits: no second writer later.
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(child)
    os.close(writer)
    assert _run_status(tmp_path, 1) == "running"  # abandoned mid-run

    spiked.unlink()  # the mount recovers
    spiked.write_bytes(original)
    age_heartbeat(f"sqlite:///{tmp_path / 'warden.db'}")  # past stale_run_after
    executed = run_warden("runs", "execute", "--json", cwd=tmp_path)
    (outcome,) = [json.loads(line) for line in executed.stdout.splitlines()]
    assert outcome["status"] == "succeeded", (outcome, executed.stderr)
    quarantined = list((tmp_path / "warden-work" / "quarantine").rglob("*.parquet"))
    assert [p.read_bytes() for p in quarantined] == [original] and not spiked.exists()
    assert not list((tmp_path / "warden-work").rglob("*.partial"))
    log = run_warden("audit", "log", "--json", cwd=tmp_path).stdout.splitlines()
    actions = [json.loads(line)["action"] for line in log]
    assert actions.count("run.taken_over") == 1 and actions.count("run.succeeded") == 1
    assert run_warden("audit", "verify", cwd=tmp_path).code == 0
