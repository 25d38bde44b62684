"""The agent in the daemon's world: `warden agent propose` on a real incident and dataset,
the scripted model over HTTP, the proposal stored as a run a person must approve, and a
rejection with a reason answered by a revised proposal (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from daemon.agent.service import AgentService, incidents_for_agent
from daemon.config.models import WardenConfig
from daemon.remediation.approvals import decide
from daemon.store.engine import Store
from daemon.store.models import AuditEvent, PlaybookRun
from detectors.results import Finding
from tests.agent.fake_openai import Answer, FakeOpenAI, proposal
from tests.cli.conftest import run_warden
from tests.remediation_world import detect, write_data

KEY_VARIABLE = "WARDEN_TEST_OPENAI_KEY"
#: A pattern no default route covers: the agent's turn.
UNROUTED = Finding("dataset_drift", None, "share_drifted", 0.6, 0.5, True)


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


def _config(tmp_path: Path, store: Store, base_url: str) -> Path:
    write_data(tmp_path / "data")
    document = {
        "store": {"url": store.url.render_as_string(hide_password=False)},
        "datasets": {
            "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
        },
        "playbooks": {"work_root": str(tmp_path / "work")},
        "agent": {
            "model": "local-model",
            "base_url": base_url,
            "api_key_env": KEY_VARIABLE,
            "checkpoints": str(tmp_path / "work" / "agent.sqlite"),
        },
    }
    path = tmp_path / "warden.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _actions(store: Store) -> list[str]:
    with store.session(readonly=True) as session:
        return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


def test_the_agent_proposes_a_run_that_its_requester_cannot_approve_alone(
    store: Store, model: FakeOpenAI, tmp_path: Path
):
    config_path = _config(tmp_path, store, model.base_url)
    config = WardenConfig.model_validate(yaml.safe_load(config_path.read_text()))
    assert detect(store, config, UNROUTED) == []  # no route: nothing proposed by rule
    assert incidents_for_agent(store) == [1]
    model.answers = [Answer(proposal("quarantine"))]

    off = run_warden("agent", "propose", "1", "-c", str(config_path), cwd=tmp_path)
    assert off.code == 2 and f"set {KEY_VARIABLE}" in off.stderr

    asked = run_warden(
        "agent",
        "propose",
        "1",
        "-c",
        str(config_path),
        "--as",
        "alice",
        "--json",
        cwd=tmp_path,
        env={KEY_VARIABLE: "sk-local"},
    )
    assert asked.code == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert (answer["outcome"], answer["run_id"]) == ("proposed", 1)
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, 1)
        assert run is not None
        assert (run.origin, run.requested_by, run.approval_policy, run.status) == (
            "agent",
            "alice",
            "human",
            "proposed",
        )
        assert len(run.plan["steps"]) >= 1 and run.params["max_files"] == 5  # policy bound
    assert incidents_for_agent(store) == []  # looked at: the daemon does not ask again
    assert _actions(store)[-3:] == ["agent.started", "run.proposed", "agent.proposed"]
    assert model.requests[0]["auth"] == "Bearer sk-local"

    shown = run_warden("runs", "show", "1", "-c", str(config_path), cwd=tmp_path)
    assert "Proposed by the agent (confidence 0.80, requested by alice): the null spike" in (
        " ".join(shown.stdout.split())
    )
    alone = run_warden("approve", "1", "-c", str(config_path), "--as", "alice", cwd=tmp_path)
    assert alone.code == 0 and "1 of 2" in alone.stdout
    again = run_warden(
        "agent",
        "propose",
        "1",
        "-c",
        str(config_path),
        cwd=tmp_path,
        env={KEY_VARIABLE: "sk-local"},
    )
    assert again.code == 2 and "already has run 1 open" in again.stderr


def test_a_rejection_with_a_reason_gets_a_revised_proposal(
    store: Store, model: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config_path = _config(tmp_path, store, model.base_url)
    config = WardenConfig.model_validate(yaml.safe_load(config_path.read_text()))
    detect(store, config, UNROUTED)
    monkeypatch.setenv(KEY_VARIABLE, "sk-local")
    model.answers = [
        Answer(proposal("quarantine")),
        Answer(proposal(None, rationale="labels, not data; needs the labelling team")),
    ]
    service = AgentService(store, config)
    first = service.propose(1)
    assert first.run_id == 1
    with store.session() as session:
        decide(session, config, 1, "reject", actor="bob", via="cli", reason="data is fine")
    assert service.resume_decided()[0].outcome == "escalated"
    assert "data is fine" in model.prompts()[1]
    assert service.resume_decided() == []  # once
    assert _actions(store)[-3:] == ["run.rejected", "agent.decided", "agent.escalated"]
