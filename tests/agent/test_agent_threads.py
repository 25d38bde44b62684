"""The agent's threads are stored rows (issue 16, item 17): two daemons resume a decided
thread once, a thread a dead process left `running` is settled from its checkpoints, and a
store upgraded from 0010 gets its threads back from the audit trail (SQLite, PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from alembic import command
from sqlalchemy import text, update
from sqlmodel import col, select

from daemon.agent.service import AgentOutcome, AgentService, incidents_for_agent
from daemon.agent.threads import STALE_AFTER
from daemon.config.models import WardenConfig
from daemon.remediation.approvals import decide
from daemon.store.engine import Store, open_store
from daemon.store.migrate import alembic_config, upgrade_to_head
from daemon.store.models import AgentThread
from daemon.store.types import utcnow
from tests.agent.fake_openai import Answer, FakeOpenAI, proposal
from tests.agent.test_agent_cli import KEY_VARIABLE, UNROUTED, _config
from tests.remediation_world import detect


@pytest.fixture
def model():
    fake = FakeOpenAI()
    yield fake
    fake.close()


def _proposed_then_rejected(
    store: Store, model: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> WardenConfig:
    """Incident 1, its agent proposal run 1, rejected with a reason; the model's next
    answer escalates."""
    config_path = _config(tmp_path, store, model.base_url)
    config = WardenConfig.model_validate(yaml.safe_load(config_path.read_text()))
    detect(store, config, UNROUTED)
    monkeypatch.setenv(KEY_VARIABLE, "sk-local")
    model.answers = [
        Answer(proposal("quarantine")),
        Answer(proposal(None, rationale="labels, not data; needs the labelling team")),
    ]
    assert AgentService(store, config).propose(1).run_id == 1
    with store.session() as session:
        decide(session, config, 1, "reject", actor="bob", via="cli", reason="data is fine")
    return config


def _threads(store: Store) -> list[tuple[str, str, int | None, str | None]]:
    with store.session(readonly=True) as session:
        rows = session.exec(select(AgentThread).order_by(col(AgentThread.thread_id))).all()
        return [(t.thread_id, t.status, t.run_id, t.outcome) for t in rows]


def test_the_thread_row_follows_the_graph(
    store: Store, model: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = _proposed_then_rejected(store, model, tmp_path, monkeypatch)
    assert _threads(store) == [("incident-1-1", "waiting", 1, "proposed")]
    assert incidents_for_agent(store) == []
    (resumed,) = AgentService(store, config).resume_decided()
    assert resumed.outcome == "escalated"
    assert _threads(store) == [("incident-1-1", "done", 1, "escalated")]


def test_two_daemons_resume_a_decided_thread_once(
    store: Store, model: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = _proposed_then_rejected(store, model, tmp_path, monkeypatch)
    services = [AgentService(store, config), AgentService(store, config)]
    together = threading.Barrier(2)
    outcomes: list[list[AgentOutcome]] = [[], []]

    def resume(index: int) -> None:
        together.wait()
        outcomes[index] = services[index].resume_decided()

    workers = [threading.Thread(target=resume, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert sorted(len(found) for found in outcomes) == [0, 1]
    assert len(model.requests) == 2  # the proposal, and one follow-up
    assert _threads(store) == [("incident-1-1", "done", 1, "escalated")]


def test_a_thread_left_running_by_a_dead_process_is_settled_then_resumed(
    store: Store, model: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = _proposed_then_rejected(store, model, tmp_path, monkeypatch)
    # A daemon claimed the decided thread, then died before resuming it.
    with store.session() as session:
        session.exec(  # type: ignore[call-overload]
            update(AgentThread).values(
                status="running", updated_at=utcnow() - STALE_AFTER - timedelta(seconds=1)
            )
        )
    service = AgentService(store, config)
    (resumed,) = service.resume_decided()  # settled as waiting for run 1, then resumed
    assert resumed.outcome == "escalated"
    assert _threads(store) == [("incident-1-1", "done", 1, "escalated")]
    assert service.resume_decided() == []


def test_a_thread_claimed_a_moment_ago_is_left_to_its_claimant(
    store: Store, model: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = _proposed_then_rejected(store, model, tmp_path, monkeypatch)
    with store.session() as session:
        session.exec(update(AgentThread).values(status="running", updated_at=utcnow()))  # type: ignore[call-overload]
    assert AgentService(store, config).resume_decided() == []
    assert len(model.requests) == 1


def test_upgrading_from_0010_rebuilds_the_threads_from_the_audit_trail(store_url: str):
    store = open_store(store_url, migrate=False)
    with store.connect() as connection:
        command.upgrade(alembic_config(connection), "0010")
        connection.commit()
    at = datetime(2025, 1, 5, tzinfo=UTC)
    with store.connect() as connection:
        for incident in (1, 2, 3):
            connection.execute(
                text(
                    "INSERT INTO incident (id, fingerprint, monitor, dataset, pattern, scope,"
                    " severity, status, title, first_seen, last_seen, occurrences,"
                    " clean_streak, evidence, last_checked_at, false_alarm, route)"
                    " VALUES (:id, :f, 'm', 'd', 'dataset_drift', '{}', 'warning', 'open',"
                    " 't', :at, :at, 1, 0, '{}', :at, false, '{\"rule\": \"none\"}')"
                ),
                {"id": incident, "f": f"f{incident}", "at": at},
            )
        for run_id, status in ((1, "rejected"), (2, "proposed")):
            connection.execute(
                text(
                    "INSERT INTO playbook_run (id, incident_id, playbook, params, plan,"
                    " plan_hash, origin, approval_policy, status, step_log, created_at,"
                    " updated_at) VALUES (:id, :id, 'quarantine', '{}', '{}', 'h', 'agent',"
                    " 'human', :status, '[]', :at, :at)"
                ),
                {"id": run_id, "status": status, "at": at},
            )
        events = [
            ("alice", "agent.started", "1", '{"thread_id": "incident-1-1"}'),
            ("agent", "agent.proposed", "1", '{"thread_id": "incident-1-1", "run_id": 1}'),
            (
                "agent",
                "agent.decided",
                "1",
                '{"thread_id": "incident-1-1", "run_id": 1, "decision": "reject"}',
            ),
            ("agent", "agent.started", "2", '{"thread_id": "incident-2-1"}'),
            ("agent", "agent.proposed", "2", '{"thread_id": "incident-2-1", "run_id": 2}'),
            ("agent", "agent.started", "3", '{"thread_id": "incident-3-1"}'),
            ("agent", "agent.failed", "3", '{"thread_id": "incident-3-1", "reason": "boom"}'),
        ]
        for seq, (actor, action, entity, payload) in enumerate(events, start=1):
            connection.execute(
                text(
                    "INSERT INTO audit_event (seq, at, actor, action, entity_type, entity_id,"
                    " payload, prev_hash, hash) VALUES (:seq, :at, :actor, :action,"
                    " 'incident', :entity, :payload, :prev, :hash)"
                ),
                {
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "entity": entity,
                    "payload": payload,
                    "prev": f"{seq - 1:064d}",
                    "hash": f"{seq:064d}",
                },
            )
        connection.commit()
    upgrade_to_head(store)
    with store.session(readonly=True) as session:
        rows = session.exec(select(AgentThread).order_by(col(AgentThread.thread_id))).all()
        threads = [(t.thread_id, t.requested_by, t.status, t.run_id, t.outcome) for t in rows]
    store.close()
    assert threads == [
        ("incident-1-1", "alice", "done", 1, "reject"),
        ("incident-2-1", "agent", "waiting", 2, "proposed"),
        ("incident-3-1", "agent", "failed", None, "boom"),
    ]
    # No route covers them, and the agent has looked at each: it does not look again.
    reopened = open_store(store_url)
    assert incidents_for_agent(reopened) == []
    reopened.close()
