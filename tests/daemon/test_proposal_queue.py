"""The proposal queue: a scan only records that an incident needs a proposal; planning claims
it afterwards, proposes exactly once, retries failures with backoff and records them on the
incident's timeline, cancels what resolved meanwhile and takes over from dead planners (on
SQLite and PostgreSQL)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.http.metrics import StoreCollector
from daemon.incidents.incidents import IncidentPolicy, observe
from daemon.incidents.lifecycle import change_status
from daemon.remediation.proposal_queue import plan_pending
from daemon.remediation.proposal_requests import MAX_ATTEMPTS, retry_delay, still_queued
from daemon.store.engine import Store
from daemon.store.models import (
    AuditEvent,
    Incident,
    IncidentStatus,
    PlaybookRun,
    ProposalRequest,
)
from daemon.store.types import utcnow
from detectors.results import DetectorResult
from tests.remediation_world import DAY, NULLS, write_data

PLANNER = "planner-a"


def _config(tmp_path: Path) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
            },
            "routes": [
                {"match": {"pattern": "null_spike"}, "playbook": "quarantine", "approval": "human"}
            ],
            "playbooks": {"work_root": str(tmp_path / "work")},
        }
    )


def _observe(
    store: Store, config: WardenConfig, day: int = 1, monitor: str = "quality"
) -> list[int]:
    """What a scan records: the incident, its route and the request; no planning."""
    start = DAY + timedelta(days=day)
    end = start + timedelta(days=1)
    window = {"dataset": "events", "start": start.isoformat(), "end": end.isoformat()}
    with store.session() as session:
        outcome = observe(
            session,
            monitor=monitor,
            dataset="events",
            severity="warning",
            result=DetectorResult.from_findings([NULLS]),
            windows={"current": window},
            at=end,
            policy=IncidentPolicy.from_config(config),
        )
    return outcome.routed


def _requests(store: Store) -> list[ProposalRequest]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(ProposalRequest).order_by(col(ProposalRequest.id))).all())


def _runs(store: Store) -> list[PlaybookRun]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(PlaybookRun)).all())


def _timeline(store: Store, incident_id: int, action: str) -> list[dict]:
    with store.session(readonly=True) as session:
        events = session.exec(
            select(AuditEvent)
            .where(
                AuditEvent.entity_type == "incident",
                AuditEvent.entity_id == str(incident_id),
                AuditEvent.action == action,
            )
            .order_by(col(AuditEvent.seq))
        ).all()
    return [event.payload for event in events]


def _queue_gauge(store: Store) -> float:
    """`warden_proposal_queue` as a scrape of /metrics reads it."""
    (family,) = [f for f in StoreCollector(store).collect() if f.name == "warden_proposal_queue"]
    return family.samples[0].value


def _make_due(store: Store) -> None:
    """Move every pending request's next attempt into the past (time passing)."""
    with store.session() as session:
        for request in session.exec(select(ProposalRequest)).all():
            request.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(request)


def test_a_scan_only_queues_and_planning_proposes_exactly_once(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path)
    (incident_id,) = _observe(store, config)
    (request,) = _requests(store)
    assert (request.incident_id, request.status, request.attempts) == (incident_id, "pending", 0)
    assert _runs(store) == []  # the scan's transaction planned nothing
    assert [q.status for q in still_queued(store, [incident_id])] == ["queued"]
    assert _queue_gauge(store) == 1

    (outcome,) = plan_pending(store, config, identity=PLANNER)
    (run,) = _runs(store)
    assert (outcome.status, outcome.run_id, run.incident_id) == ("proposed", run.id, incident_id)
    (request,) = _requests(store)
    assert (request.status, request.run_id, request.attempts) == ("proposed", run.id, 1)
    assert plan_pending(store, config, identity=PLANNER) == []
    assert still_queued(store, [incident_id]) == []
    assert _queue_gauge(store) == 0
    assert _observe(store, config) == []  # seen again: already routed, nothing queued
    assert len(_requests(store)) == 1


def test_a_failing_plan_is_retried_with_backoff_on_the_timeline_then_given_up(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path)
    (incident_id,) = _observe(store, config)
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.route is not None
        # The config changed under a stored route: the playbook's params no longer validate.
        incident.route = {**incident.route, "params": {"no_such_param": 1}}
        session.add(incident)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        before = utcnow()
        (outcome,) = plan_pending(store, config, identity=PLANNER)
        (request,) = _requests(store)
        assert request.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert (outcome.status, request.status) == ("pending", "pending")
            wait = request.next_attempt_at - before
            assert retry_delay(attempt) <= wait <= retry_delay(attempt) + timedelta(seconds=30)
            assert plan_pending(store, config, identity=PLANNER) == []  # not due yet
            _make_due(store)
        else:
            assert (outcome.status, request.status) == ("failed", "failed")
    failures = _timeline(store, incident_id, "proposal.failed")
    assert [f["attempt"] for f in failures] == list(range(1, MAX_ATTEMPTS + 1))
    assert all("no_such_param" in f["error"] for f in failures)
    assert failures[-1]["retry_at"] is None and failures[0]["retry_at"] is not None
    assert _runs(store) == []
    _make_due(store)
    assert plan_pending(store, config, identity=PLANNER) == []  # failed is final


def test_a_refusal_is_final_and_recorded(store, tmp_path):
    write_data(tmp_path / "data", days=1)  # day 1 has no file: nothing to quarantine
    config = _config(tmp_path)
    (incident_id,) = _observe(store, config)
    (outcome,) = plan_pending(store, config, identity=PLANNER)
    assert outcome.status == "refused" and "cannot plan" in outcome.message
    (skipped,) = _timeline(store, incident_id, "proposal.skipped")
    assert skipped["reason"] == outcome.message
    _make_due(store)
    assert plan_pending(store, config, identity=PLANNER) == []


def test_an_incident_resolved_before_planning_is_cancelled(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path)
    (incident_id,) = _observe(store, config)
    with store.session() as session:
        change_status(session, incident_id, IncidentStatus.closed, actor="alice", reason="known")
    (outcome,) = plan_pending(store, config, identity=PLANNER)
    assert outcome.status == "cancelled" and "closed" in outcome.message
    assert _runs(store) == []


def _dead_local_identity() -> str:
    # The pid of a process that has exited (and been reaped): provably gone.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:dead00"


def _claim_as(store: Store, identity: str, age: timedelta) -> None:
    with store.session() as session:
        (request,) = session.exec(select(ProposalRequest)).all()
        request.status, request.claimed_by = "planning", identity
        request.claimed_at, request.attempts = utcnow() - age, 1
        session.add(request)


def test_a_dead_planners_claim_is_taken_over_and_a_live_ones_is_not(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path)
    (incident_id,) = _observe(store, config)

    _claim_as(store, "other-host:1:abcdef", timedelta(seconds=5))  # alive, as far as we know
    assert plan_pending(store, config, identity=PLANNER) == []
    assert [q.message for q in still_queued(store, [incident_id])] == [
        "being planned by other-host:1:abcdef"
    ]
    stale = config.playbooks.stale_run_after + timedelta(seconds=1)
    _claim_as(store, "other-host:1:abcdef", stale)  # silent for too long
    (outcome,) = plan_pending(store, config, identity=PLANNER)
    assert outcome.status == "proposed"
    (taken,) = _timeline(store, incident_id, "proposal.taken_over")
    assert taken["from"] == "other-host:1:abcdef"


def test_a_planner_that_died_on_this_host_is_taken_over_at_once(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path)
    _observe(store, config)
    dead = _dead_local_identity()
    _claim_as(store, dead, timedelta(seconds=1))
    (outcome,) = plan_pending(store, config, identity=PLANNER)
    assert outcome.status == "proposed"
    (request,) = _requests(store)
    assert (request.claimed_by, request.attempts) == (PLANNER, 2)


def test_concurrent_planners_propose_once(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path)
    incidents = _observe(store, config, monitor="quality") + _observe(store, config, monitor="q2")
    barrier = threading.Barrier(3)
    results: list[list] = []

    def plan(name: str) -> None:
        barrier.wait()
        results.append(plan_pending(store, config, identity=name))

    threads = [threading.Thread(target=plan, args=(f"planner-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    proposed = [o for outcomes in results for o in outcomes if o.status == "proposed"]
    runs = _runs(store)
    assert sorted(run.incident_id for run in runs) == sorted(incidents) and len(incidents) == 2
    assert sorted(o.run_id for o in proposed) == sorted(run.id for run in runs)
    assert [r.status for r in _requests(store)] == ["proposed", "proposed"]
