"""The reconciler resumes what dead daemons left, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.runtime.instances import register
from daemon.runtime.reconciler import reconcile, resume_scans
from daemon.scan.runner import claim_tick, run_scan, sync_monitors
from daemon.store.audit import verify_audit_chain
from daemon.store.engine import Store
from daemon.store.identities import Claimant, new_identity
from daemon.store.models import AuditEvent, DaemonInstance, Incident, Monitor, ScanRun
from daemon.store.types import utcnow
from tests.daemon.engine_cases import AT, START, events_table


def _config(folder: Path) -> WardenConfig:
    pq.write_table(events_table(), folder / "events.parquet")
    return WardenConfig.model_validate(
        {
            "datasets": {
                "events": {
                    "format": "parquet",
                    "path": str(folder / "events.parquet"),
                    "time_column": "ts",
                }
            },
            "monitors": [
                {
                    "name": "drift",
                    "kind": "drift",
                    "dataset": "events",
                    "window": "1d",
                    "reference": {
                        "start": START.isoformat(),
                        "end": (START + timedelta(days=7)).isoformat(),
                    },
                }
            ],
        }
    )


def _dead_identity() -> str:
    """A daemon identity on this host whose process has exited."""
    probe = subprocess.Popen(["true"])
    probe.wait()
    host = new_identity().split(":")[0]
    return f"{host}:{probe.pid}:dead00"


def _snapshot(store: Store) -> tuple[list[tuple], list[tuple], int]:
    with store.session(readonly=True) as session:
        scans = [
            (s.id, s.status, s.claimed_by, s.finished_at)
            for s in session.exec(select(ScanRun).order_by(ScanRun.id)).all()
        ]
        instances = [
            (i.identity, i.stopped_at, i.stop_reason)
            for i in session.exec(select(DaemonInstance).order_by(DaemonInstance.identity)).all()
        ]
        events = len(session.exec(select(AuditEvent)).all())
    return scans, instances, events


def test_a_stopped_daemons_scan_is_resumed_once_and_reconciling_again_changes_nothing(
    store: Store, tmp_path: Path
):
    config = _config(tmp_path)
    crashed = "elsewhere:7:abc123"  # another host: only its stopped row says it is gone
    register(store, crashed)
    claim = claim_tick(store, "drift", AT, claimed_by=crashed, replace=False)
    assert claim is not None
    with store.session() as session:
        instance = session.get(DaemonInstance, crashed)
        assert instance is not None
        instance.stopped_at, instance.stop_reason = utcnow(), "shutdown"
        session.add(instance)

    me = new_identity()
    register(store, me)
    found = reconcile(store, config, identity=me)
    assert [(r.scan_run_id, r.monitor, r.at, r.previous_claimant) for r in found.resumed] == [
        (claim.run_id, "drift", AT, crashed)
    ]
    assert found.abandoned == [] and found.presumed_dead == []
    (report,) = resume_scans(store, config, found.resumed, identity=me)
    assert report.status == "alert" and report.scan_run_id == claim.run_id
    assert report.replaces == {"status": "running", "finished_at": None, "claimed_by": crashed}

    before = _snapshot(store)
    again = reconcile(store, config, identity=me)
    assert not again.changed_anything and again.resumed == []
    assert _snapshot(store) == before

    # The dead daemon's late result (had it come back) is dropped: the tick is no longer its.
    late = run_scan(config, config.monitor("drift"), AT, store, claimed_by=crashed, claim=claim)
    assert late is None
    with store.session(readonly=True) as session:
        (scan,) = session.exec(select(ScanRun)).all()
        assert (scan.status, scan.claimed_by) == ("alert", me)
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]
        assert actions.count("scan.taken_over") == 1 and actions.count("scan.completed") == 1
        assert verify_audit_chain(session).ok


def test_silent_daemons_are_presumed_dead_and_live_ones_are_left_alone(
    store: Store, tmp_path: Path
):
    config = _config(tmp_path)
    silent, alive = "far-away:10:aaaaaa", "far-away:11:bbbbbb"
    for identity in (silent, alive):
        register(store, identity)
    with store.session() as session:
        instance = session.get(DaemonInstance, silent)
        assert instance is not None
        instance.heartbeat_at = utcnow() - timedelta(minutes=5)  # > instance_stale_after 90s
        session.add(instance)
    silent_claim = claim_tick(store, "drift", AT, claimed_by=silent, replace=False)
    next_hour = AT + timedelta(hours=1)
    alive_claim = claim_tick(store, "drift", next_hour, claimed_by=alive, replace=False)
    assert silent_claim and alive_claim

    me = new_identity()
    register(store, me)
    found = reconcile(store, config, identity=me)
    assert found.presumed_dead == [silent]
    assert [r.scan_run_id for r in found.resumed] == [silent_claim.run_id]
    with store.session(readonly=True) as session:
        still = session.get(ScanRun, alive_claim.run_id)
        assert still is not None and (still.status, still.claimed_by) == ("running", alive)
        stopped = session.get(DaemonInstance, silent)
        assert stopped is not None and stopped.stop_reason == "presumed_dead"


def test_a_dead_process_on_this_host_is_recognised_at_once(store: Store, tmp_path: Path):
    config = _config(tmp_path)
    dead = _dead_identity()
    assert Claimant.parse(dead).died_here()
    # This very process under another identity counts as an earlier life (gone); a live
    # process on this host (the test runner's parent) does not.
    assert Claimant.parse(new_identity()).died_here() is True
    assert Claimant.parse(f"{socket.gethostname()}:{os.getppid()}:token").died_here() is False
    register(store, dead)  # heartbeat fresh: only the missing process gives it away
    claim = claim_tick(store, "drift", AT, claimed_by=dead, replace=False)
    assert claim is not None
    me = new_identity()
    register(store, me)
    found = reconcile(store, config, identity=me)
    assert found.presumed_dead == [dead]
    assert [r.scan_run_id for r in found.resumed] == [claim.run_id]


def test_an_earlier_life_of_this_process_counts_as_dead():
    """The caller never asks about its own identity (the reconciler skips it first), so the
    same pid under another token is an earlier life: a container restarted as pid 1."""
    host, pid, _ = new_identity().split(":")
    earlier = f"{host}:{pid}:000000"
    assert Claimant.parse(earlier).died_here()  # same pid, other token: a previous life
    assert Claimant.parse("cli").host is None and not Claimant.parse("cli").died_here()
    assert not Claimant.parse("other-host:1:abcdef").died_here()


def test_a_scan_whose_monitor_left_the_config_is_closed_as_error(store: Store, tmp_path: Path):
    config = _config(tmp_path)
    gone = "elsewhere:8:cccccc"
    register(store, gone)
    claim = claim_tick(store, "old-monitor", AT, claimed_by=gone, replace=False)
    assert claim is not None
    with store.session() as session:
        instance = session.get(DaemonInstance, gone)
        assert instance is not None
        instance.stopped_at = utcnow()
        session.add(instance)
    found = reconcile(store, config, identity=new_identity())
    assert found.resumed == [] and found.abandoned == [claim.run_id]
    with store.session(readonly=True) as session:
        scan = session.get(ScanRun, claim.run_id)
        assert scan is not None and scan.status == "error"
        assert "no longer in the config" in (scan.error or "")


def test_an_unregistered_claimant_is_waited_for_an_hour(store: Store, tmp_path: Path):
    config = _config(tmp_path)
    recent = claim_tick(store, "drift", AT, claimed_by="cli", replace=False)
    old = claim_tick(store, "drift", AT + timedelta(hours=1), claimed_by="cli", replace=False)
    assert recent and old
    with store.session() as session:
        scan = session.get(ScanRun, old.run_id)
        assert scan is not None
        scan.started_at = utcnow() - timedelta(hours=2)
        session.add(scan)
    found = reconcile(store, config, identity=new_identity())
    assert [r.scan_run_id for r in found.resumed] == [old.run_id]  # not the recent one


def test_a_result_the_store_refuses_leaves_the_scan_error_and_nothing_half_written(
    store: Store, tmp_path: Path
):
    """The scan's one transaction fails at its last write (here an audit hook that fails as
    a timed-out store does): nothing of it stays, and the scan run says why instead of
    staying `running` until a restart."""
    config = _config(tmp_path)

    def store_times_out(session: object, event: object) -> None:
        raise OperationalError("INSERT INTO audit_event ...", {}, Exception("database is locked"))

    store.audit_hooks.append(store_times_out)
    with pytest.raises(OperationalError):
        run_scan(config, config.monitor("drift"), AT, store, claimed_by="test:1:aaaaaa")
    store.audit_hooks.remove(store_times_out)
    with store.session(readonly=True) as session:
        (scan,) = session.exec(select(ScanRun)).all()
        assert scan.status == "error" and "could not be recorded" in (scan.error or "")
        assert "database is locked" in (scan.error or "")
        assert session.exec(select(Incident)).all() == []
        assert session.exec(select(AuditEvent)).all() == []


def test_replicas_starting_together_on_a_new_store_all_sync_their_monitors(
    store: Store, tmp_path: Path
):
    """Found by the scheduler benchmark: two replicas started at once on a new PostgreSQL
    store both inserted the same monitor, and the loser exited with a UniqueViolation."""
    base = _config(tmp_path)
    drift = base.monitors[0].model_dump(mode="json")
    config = base.model_validate(
        {
            **base.model_dump(mode="json", include={"datasets"}),
            "monitors": [{**drift, "name": f"m{n:03d}"} for n in range(200)],
        }
    )
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def replica() -> None:
        start.wait()
        try:
            sync_monitors(store, config)
        except IntegrityError as error:  # collected: a thread's exception would be lost
            failures.append(error)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    with store.session(readonly=True) as session:
        assert len(session.exec(select(Monitor)).all()) == 200
