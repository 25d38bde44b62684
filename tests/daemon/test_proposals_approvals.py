"""From a routed incident to a decided run, on every store backend: proposals with plan
hashes, auto approval, human and two-person approval, rejection, a changed plan, expiry, and
concurrent approvers giving exactly one decision."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.incidents.incidents import IncidentPolicy, observe
from daemon.remediation.approvals import DecisionRefused, decide, expire_overdue
from daemon.store.audit import verify_audit_chain
from daemon.store.models import Approval, AuditEvent, PlaybookRun
from detectors.results import DetectorResult, Finding
from tests.remediation_world import DAY, NULLS, detect, write_data

DRIFT = Finding("feature_drift", "x", "wasserstein", 0.9, 0.1, True)


def _config(tmp_path: Path, approval: str) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
            },
            "routes": [
                {"match": {"pattern": "null_spike"}, "playbook": "quarantine", "approval": approval}
            ],
            "playbooks": {"work_root": str(tmp_path / "work")},
        }
    )


def _run(store, run_id: int) -> PlaybookRun:
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        assert run is not None
        return run


def _decide(store, config, run_id, decision, actor, **kwargs):
    with store.session() as session:
        return decide(session, config, run_id, decision, actor=actor, via="cli", **kwargs)


def test_a_routed_incident_gets_a_planned_proposal_and_a_human_approves_it(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    run = _run(store, run_id)
    assert (run.playbook, run.status, run.approval_policy) == ("quarantine", "proposed", "human")
    moves = [step for step in run.plan["steps"] if step["action"] == "move"]
    assert [Path(step["target"]).parent.name for step in moves] == ["date=2025-03-02"]
    assert len(run.plan_hash) == 64
    assert detect(store, config, NULLS, day=1) == []  # seen again: no second proposal

    outcome = _decide(store, config, run_id, "approve", "alice")
    assert outcome.status == "approved" and _run(store, run_id).status == "approved"
    with pytest.raises(DecisionRefused, match="only a proposed run"):
        _decide(store, config, run_id, "reject", "bob", reason="too late")
    with store.session(readonly=True) as session:
        (approval,) = session.exec(select(Approval)).all()
        assert (approval.actor, approval.plan_hash) == ("alice", run.plan_hash)
        assert verify_audit_chain(session).ok


def test_auto_policy_approves_at_once(store, tmp_path):
    write_data(tmp_path / "data")
    (run_id,) = detect(store, _config(tmp_path, "auto"), NULLS)
    assert _run(store, run_id).status == "approved"
    with store.session(readonly=True) as session:
        (approval,) = session.exec(select(Approval)).all()
        assert (approval.actor, approval.via) == ("policy:auto", "policy")


def test_two_person_needs_two_different_people(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "two_person")
    (run_id,) = detect(store, config, NULLS)
    first = _decide(store, config, run_id, "approve", "alice")
    assert first.status == "proposed" and "1 of 2" in first.message
    with pytest.raises(DecisionRefused, match="already approved"):
        _decide(store, config, run_id, "approve", "alice")
    assert _decide(store, config, run_id, "approve", "bob").status == "approved"


def test_rejecting_needs_a_reason(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    with pytest.raises(DecisionRefused, match="needs a reason"):
        _decide(store, config, run_id, "reject", "alice")
    assert _decide(store, config, run_id, "reject", "alice", reason="known").status == "rejected"


def test_a_changed_plan_needs_a_new_approval(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    late = tmp_path / "data" / "date=2025-03-02" / "part-1.parquet"
    pq.write_table(pq.read_table(tmp_path / "data" / "date=2025-03-02" / "part-0.parquet"), late)
    outcome = _decide(store, config, run_id, "approve", "alice")
    assert outcome.status == "expired" and outcome.new_run_id is not None
    assert "changed since it was proposed" in outcome.message
    new = _run(store, outcome.new_run_id)
    assert new.status == "proposed" and new.plan_hash != _run(store, run_id).plan_hash
    assert len([s for s in new.plan["steps"] if s["action"] == "move"]) == 2
    assert _decide(store, config, new.id, "approve", "alice").status == "approved"


def test_proposals_expire(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    later = _run(store, run_id).created_at + timedelta(hours=24, seconds=1)
    outcome = _decide(store, config, run_id, "approve", "alice", now=later)
    assert outcome.status == "expired" and "expired" in outcome.message


def test_the_sweep_expires_overdue_proposals_only(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    created = _run(store, run_id).created_at
    with store.session() as session:
        assert expire_overdue(session, timedelta(hours=24), now=created + timedelta(hours=23)) == []
    with store.session() as session:
        swept = expire_overdue(session, timedelta(hours=24), now=created + timedelta(hours=25))
    assert swept == [run_id] and _run(store, run_id).status == "expired"
    with store.session(readonly=True) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "run.expired")).all()
    assert event.actor == "policy:ttl"


def test_an_agent_proposal_needs_a_person_besides_its_requester(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    with store.session() as session:  # as the agent would store it for alice
        run = session.get(PlaybookRun, run_id)
        run.origin, run.requested_by = "agent", "alice"
        session.add(run)
    with pytest.raises(DecisionRefused, match="a person must approve"):
        _decide(store, config, run_id, "approve", "agent:remediation")
    first = _decide(store, config, run_id, "approve", "alice")
    assert first.status == "proposed" and "1 of 2" in first.message
    assert _decide(store, config, run_id, "approve", "bob").status == "approved"


def test_concurrent_approvers_give_exactly_one_decision(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (run_id,) = detect(store, config, NULLS)
    results: list[str] = []
    start = threading.Barrier(4)

    def click(actor: str) -> None:
        start.wait()
        try:
            results.append(_decide(store, config, run_id, "approve", actor).status)
        except DecisionRefused as error:
            results.append(f"refused: {error}")

    threads = [threading.Thread(target=click, args=(f"user{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("approved") == 1
    assert sum("only a proposed run" in r for r in results) == 3
    with store.session(readonly=True) as session:
        assert len(session.exec(select(Approval)).all()) == 1


def test_what_cannot_be_proposed_is_on_the_timeline(store, tmp_path):
    write_data(tmp_path / "data")
    config = WardenConfig.model_validate(
        {
            **_config(tmp_path, "human").model_dump(mode="json", exclude={"routes"}),
            "routes": [{"match": {"pattern": "null_spike"}, "playbook": "quarantine"}],
        }
    )
    assert detect(store, config, DRIFT) == []  # relabel_batch (default) has no window here
    assert detect(store, config, NULLS, day=9) == []  # no file holds that window
    with store.session(readonly=True) as session:
        reasons = [
            e.payload["reason"]
            for e in session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "proposal.skipped")
                .order_by(col(AuditEvent.seq))
            ).all()
        ]
    assert reasons[0] == (
        "relabel_batch cannot plan: the incident does not name the window it is about"
    )
    assert reasons[1].startswith("quarantine cannot plan: no file of dataset 'events'")


def test_proposals_expire_when_the_incident_resolves_or_is_closed(store, tmp_path):
    from daemon.incidents.lifecycle import change_status
    from daemon.store.models import IncidentStatus

    write_data(tmp_path / "data")
    config = _config(tmp_path, "human")
    (first,) = detect(store, config, NULLS, day=1)
    policy = IncidentPolicy.from_config(config)
    for day in (3, 4):  # two clean scans resolve the incident
        with store.session() as session:
            observe(
                session,
                monitor="quality",
                dataset="events",
                severity="warning",
                result=DetectorResult.from_findings([]),
                windows={},
                at=DAY + timedelta(days=day),
                policy=policy,
            )
    assert _run(store, first).status == "expired"
    with pytest.raises(DecisionRefused, match="is expired"):
        _decide(store, config, first, "approve", "alice")

    (second,) = detect(store, config, NULLS, day=2)  # found again: a new incident, proposal
    incident_id = _run(store, second).incident_id
    with store.session() as session:
        change_status(
            session, incident_id, IncidentStatus.closed, actor="bob", reason="known batch"
        )
    assert _run(store, second).status == "expired"
