"""A tick whose scan errored is a missed tick: a monitor that fails at every tick opens a
`missed_ticks` incident instead of failing in silence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from daemon.runtime.missed_ticks import MissedTicks
from daemon.runtime.scheduler import build_scheduler
from daemon.scan.runner import claim_tick
from daemon.store.engine import Store
from daemon.store.models import Incident, ScanRun, ScanStatus
from tests.daemon.engine_cases import AT
from tests.runtime.test_reconciler import _config

ME = "replica-a:1:aaaaaa"
OTHER = "replica-b:1:bbbbbb"


def _scheduler_incidents(store: Store) -> list[Incident]:
    with store.session(readonly=True) as session:
        return list(
            session.exec(select(Incident).where(Incident.monitor == "scheduler/drift")).all()
        )


def _errored_run(store: Store, tick, claimed_by: str) -> None:
    claim = claim_tick(store, "drift", tick, claimed_by=claimed_by, replace=False)
    assert claim is not None
    with store.session() as session:
        run = session.get(ScanRun, claim.run_id)
        assert run is not None
        run.status, run.error = ScanStatus.error.value, "the result could not be recorded"
        session.add(run)


def test_a_tick_whose_own_scan_errored_is_missed_not_claimed_elsewhere(
    store: Store, tmp_path: Path
):
    tracker = MissedTicks(store, _config(tmp_path), identity=ME)
    for minute in range(3):  # the tick raised after its scan run was marked `error`
        tick = AT + timedelta(minutes=minute)
        _errored_run(store, tick, ME)
        tracker.missed("drift", tick, "failed")
    assert tracker.streak("drift") == 3
    (incident,) = _scheduler_incidents(store)
    details = incident.evidence["findings"][0]["details"]
    assert (incident.pattern, details["reason"]) == ("missed_ticks", "failed")


def test_another_replicas_errored_tick_is_counted_there_not_as_run_here(
    store: Store, tmp_path: Path
):
    tracker = MissedTicks(store, _config(tmp_path), identity=ME)
    tracker.missed("drift", AT, "late")
    _errored_run(store, AT + timedelta(minutes=1), OTHER)
    tracker.missed("drift", AT + timedelta(minutes=1), "late")
    assert tracker.streak("drift") == 1  # neither reset (it did not run) nor counted twice


def test_the_scheduler_counts_scans_that_end_in_error_as_missed_ticks(store: Store, tmp_path: Path):
    config = _config(tmp_path)
    (tmp_path / "events.parquet").unlink()  # every scan now ends in `error`
    scheduler = build_scheduler(config, store, identity=ME)
    tick, monitor, _trigger = scheduler.get_job("drift").args
    for minute in range(3):
        tick(monitor, AT + timedelta(minutes=minute))
    (incident,) = _scheduler_incidents(store)
    details = incident.evidence["findings"][0]["details"]
    assert (incident.status, details["reason"]) == ("open", "failed")
    assert "events.parquet" in details["error"]
