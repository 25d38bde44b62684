"""Approved runs are executed, verified, and resolve their incident; a failing one rolls
back and goes back to a person; concurrent claimers never take the same run."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.remediation.approvals import decide
from daemon.remediation.executor import claim_next, execute, execute_approved
from daemon.scan import sync_monitors
from daemon.store.audit import verify_audit_chain
from daemon.store.models import AuditEvent, Incident, PlaybookRun
from playbooks.files import sha256_of
from tests.remediation_world import scan_then_plan

DAY = datetime(2025, 3, 1, tzinfo=UTC)
AT = DAY + timedelta(days=8)
STALE = timedelta(minutes=2)


def _write(folder: Path) -> list[Path]:
    """Eight days; the last one has half its values null (a null spike)."""
    written = []
    for day in range(8):
        start = DAY + timedelta(days=day)
        values = [None if day == 7 and h % 2 else float(h) for h in range(48)]
        target = folder / f"date={start.date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        times = [start + timedelta(minutes=30 * h) for h in range(48)]
        pq.write_table(
            pa.table({"ts": pa.array(times, pa.timestamp("us", "UTC")), "x": values}), target
        )
        written.append(target)
    return written


def _setup(store, tmp_path: Path, **playbooks: str) -> tuple[WardenConfig, list[Path]]:
    files = _write(tmp_path / "data")
    config = WardenConfig.model_validate(
        {
            "store": {"url": store.url.render_as_string(hide_password=False)},
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
            },
            "monitors": [
                {
                    "name": "quality",
                    "kind": "quality",
                    "dataset": "events",
                    "window": "1d",
                    "reference": {"start": DAY.isoformat(), "end": "2025-03-05"},
                }
            ],
            "playbooks": {"work_root": str(tmp_path / "work"), **playbooks},
        }
    )
    sync_monitors(store, config)
    report = scan_then_plan(config, config.monitors[0], AT, store)
    assert report is not None and report.status == "alert"
    return config, files


def _the_run(store) -> PlaybookRun:
    with store.session(readonly=True) as session:
        (run,) = session.exec(select(PlaybookRun)).all()
        return run


def _incident(store, incident_id: int) -> Incident:
    with store.session(readonly=True) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return incident


def _approve(store, config, run_id: int) -> None:
    with store.session() as session:
        assert decide(session, config, run_id, "approve", actor="alice", via="cli").status == (
            "approved"
        )


def test_an_approved_quarantine_runs_verifies_and_resolves(store, tmp_path):
    config, files = _setup(store, tmp_path)
    run = _the_run(store)
    spiked = files[-1]
    digest = sha256_of(spiked)
    _approve(store, config, run.id)
    (outcome,) = execute_approved(store, config, identity="replica-1")
    assert outcome.status == "succeeded", outcome.message
    assert not spiked.exists()
    moved = tmp_path / "work/quarantine" / f"incident-{run.incident_id}/date=2025-03-08"
    assert sha256_of(moved / "part-0.parquet") == digest
    incident = _incident(store, run.incident_id)
    assert incident.status == "resolved" and incident.acknowledged_at is not None
    finished = _the_run(store)
    assert finished.status == "succeeded" and finished.step_log[0]["outcome"] == "moved"
    assert execute_approved(store, config, identity="replica-1") == []  # nothing left
    with store.session(readonly=True) as session:
        assert verify_audit_chain(session).ok


def test_a_failed_apply_rolls_back_and_goes_back_to_a_person(store, tmp_path):
    config, files = _setup(store, tmp_path)
    run = _the_run(store)
    _approve(store, config, run.id)
    files[-1].write_bytes(files[-1].read_bytes() + b"changed after approval")
    (outcome,) = execute_approved(store, config, identity="replica-1")
    assert outcome.status == "rolled_back" and "changed since the plan" in outcome.message
    assert files[-1].exists()  # nothing moved
    incident = _incident(store, run.incident_id)
    assert incident.status == "acknowledged"
    assert _the_run(store).error is not None


def test_a_run_whose_incident_is_gone_expires_instead(store, tmp_path):
    from daemon.incidents.lifecycle import change_status
    from daemon.store.models import IncidentStatus

    config, files = _setup(store, tmp_path)
    run = _the_run(store)
    _approve(store, config, run.id)
    with store.session() as session:
        change_status(session, run.incident_id, IncidentStatus.resolved, actor="bob")
    assert claim_next(store, identity="replica-1", stale_after=STALE) is None
    assert _the_run(store).status == "expired" and files[-1].exists()


def test_concurrent_claimers_take_different_runs(store, tmp_path):
    config, _ = _setup(store, tmp_path)
    run = _the_run(store)
    _approve(store, config, run.id)
    claimed: dict[str, int | None] = {}
    start = threading.Barrier(3)

    def claim() -> None:
        start.wait()
        name = threading.current_thread().name
        claimed[name] = claim_next(store, identity=name, stale_after=STALE)

    threads = [threading.Thread(target=claim, name=f"replica-{i}") for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed.values(), key=lambda x: x or 0) == [None, None, run.id]
    (winner,) = [name for name, run_id in claimed.items() if run_id is not None]
    assert execute(store, config, run.id or 0, identity=winner).status == "succeeded"


def test_a_run_past_its_timeout_is_stopped_rolled_back_and_escalated(store, tmp_path):
    config, files = _setup(store, tmp_path, run_timeout="3s")
    run = _the_run(store)
    _approve(store, config, run.id)
    # The file becomes a FIFO nobody writes to: reading it blocks forever, like a hung mount.
    spiked = files[-1]
    spiked.unlink()
    os.mkfifo(spiked)
    started = time.monotonic()
    (outcome,) = execute_approved(store, config, identity="replica-1")
    assert time.monotonic() - started < 60
    assert outcome.status == "rolled_back"
    assert "timed out after 3s; the worker was stopped" in outcome.message
    assert stat.S_ISFIFO(spiked.stat().st_mode)  # left where it was
    assert _incident(store, run.incident_id).status == "acknowledged"
    assert not multiprocessing.active_children()


def test_a_stale_running_run_is_taken_over_and_a_live_one_is_not(store, tmp_path):
    config, files = _setup(store, tmp_path)
    run = _the_run(store)
    _approve(store, config, run.id)
    assert claim_next(store, identity="crashed", stale_after=STALE) == run.id
    # Its worker is fresh: nobody else may take it.
    assert claim_next(store, identity="replica-2", stale_after=STALE) is None
    with store.session() as session:
        row = session.get(PlaybookRun, run.id)
        row.heartbeat_at = row.heartbeat_at - timedelta(minutes=5)
        session.add(row)
    assert claim_next(store, identity="replica-2", stale_after=STALE) == run.id
    lost = execute(store, config, run.id or 0, identity="crashed")
    assert lost.status == "running" and "held by replica-2" in lost.message
    assert files[-1].exists()  # the worker that lost its claim did nothing
    assert execute(store, config, run.id or 0, identity="replica-2").status == "succeeded"
    with store.session(readonly=True) as session:
        actions = [
            event.action
            for event in session.exec(select(AuditEvent).order_by(AuditEvent.seq)).all()
            if event.entity_type == "playbook_run"
        ]
    assert actions.count("run.taken_over") == 1 and actions.count("run.succeeded") == 1
    assert actions.index("run.taken_over") < actions.index("run.succeeded")
