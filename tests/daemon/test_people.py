"""One person across Slack, the CLI and the API (`people:` in the config): under
`two_person`, two names of one person are one approver, on every store backend and through
the real CLI; unmapped names stay distinct people; and a name given to two people is a
config error that says which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col, select

from daemon.config import ConfigError, load_config
from daemon.config.models import WardenConfig
from daemon.remediation.approvals import DecisionRefused, decide
from daemon.store.engine import Store
from daemon.store.models import Approval, AuditEvent, PlaybookRun
from tests.cli.conftest import run_warden
from tests.remediation_world import detect, write_data

PEOPLE = {
    "alice": {"slack": ["U0ALICE"], "cli": ["asmith"], "api": ["al"]},
    "bob": {"slack": ["U0BOB"]},
}


def _config(tmp_path: Path, store: Store, people: dict | None = None) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "store": {"url": store.url.render_as_string(hide_password=False)},
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
            },
            "routes": [
                {
                    "match": {"pattern": "null_spike"},
                    "playbook": "quarantine",
                    "approval": "two_person",
                }
            ],
            "playbooks": {"work_root": str(tmp_path / "work")},
            "people": PEOPLE if people is None else people,
        }
    )


def _decide(store: Store, config: WardenConfig, run_id: int, actor: str, via: str):
    with store.session() as session:
        return decide(session, config, run_id, "approve", actor=actor, via=via)


def _approvers(store: Store) -> list[str]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(Approval.actor).order_by(col(Approval.id))).all())


def _status(store: Store, run_id: int) -> str:
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        assert run is not None
        return run.status


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("slack:U0ALICE", "asmith"),  # Slack, then her CLI login
        ("asmith", "api:alice"),  # CLI, then her API token (decides as api:<person>)
        ("api:al", "slack:U0ALICE"),  # the shared token's `as`, then Slack
        ("alice", "slack:U0ALICE"),  # her key is her CLI name too
    ],
)
def test_two_names_of_one_person_are_one_approver(store, tmp_path, first, second):
    write_data(tmp_path / "data")
    config = _config(tmp_path, store)
    (run_id,) = detect(store, config)
    assert "1 of 2" in _decide(store, config, run_id, first, "cli").message
    with pytest.raises(DecisionRefused) as refused:
        _decide(store, config, run_id, second, "cli")
    assert str(refused.value) == (
        f"alice has already approved run {run_id} (as {first}); {second} is alice too "
        "(config `people`), so another person must approve"
    )
    # The refusal records nothing; the approval kept the raw actor it came from.
    assert _approvers(store) == [first] and _status(store, run_id) == "proposed"
    assert _decide(store, config, run_id, "slack:U0BOB", "slack").status == "approved"
    assert _approvers(store) == [first, "slack:U0BOB"]
    with store.session(readonly=True) as session:
        recorded = session.exec(
            select(AuditEvent.actor).where(AuditEvent.action == "run.approve_recorded")
        ).all()
    assert list(recorded) == [first, "slack:U0BOB"]


def test_the_same_name_twice_is_refused_naming_the_person(store, tmp_path):
    write_data(tmp_path / "data")
    config = _config(tmp_path, store)
    (run_id,) = detect(store, config)
    _decide(store, config, run_id, "slack:U0ALICE", "slack")
    with pytest.raises(DecisionRefused, match=r"^alice \(slack:U0ALICE\) has already approved"):
        _decide(store, config, run_id, "slack:U0ALICE", "slack")


@pytest.mark.parametrize("people", [{}, PEOPLE], ids=["no-people", "not-listed"])
def test_unmapped_names_stay_distinct_people(store, tmp_path, people):
    """Without `people:` (or for names it does not list) nothing changes: Warden cannot
    know that `slack:U0CAROL` and `carol` are one person."""
    write_data(tmp_path / "data")
    config = _config(tmp_path, store, people)
    (run_id,) = detect(store, config)
    assert "1 of 2" in _decide(store, config, run_id, "slack:U0CAROL", "slack").message
    assert _decide(store, config, run_id, "carol", "cli").status == "approved"


def test_a_slack_approval_and_the_same_person_on_the_cli_are_one(store, tmp_path):
    """Through the real `warden approve`: alice approved in Slack; `--as asmith` (her CLI
    name) is refused with her name, and bob's login completes the pair."""
    write_data(tmp_path / "data")
    config = _config(tmp_path, store)
    (run_id,) = detect(store, config)
    _decide(store, config, run_id, "slack:U0ALICE", "slack")
    config_file = tmp_path / "warden.yaml"
    config_file.write_text(json.dumps(config.model_dump(mode="json", exclude_none=True)))
    refused = run_warden(
        "approve", str(run_id), "--as", "asmith", "-c", "warden.yaml", cwd=tmp_path
    )
    assert refused.code == 2, refused.stderr
    assert "alice has already approved" in refused.stderr
    assert "(as slack:U0ALICE)" in refused.stderr
    done = run_warden("approve", str(run_id), "--as", "bob", "-c", "warden.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert _status(store, run_id) == "approved"
    assert _approvers(store) == ["slack:U0ALICE", "bob"]


def test_a_name_given_to_two_people_is_a_config_error(tmp_path):
    path = tmp_path / "warden.yaml"
    path.write_text(
        "people:\n"
        "  alice: {slack: [U0ALICE], cli: [ops]}\n"
        "  bob: {slack: [U0ALICE], api: [alice]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text = str(caught.value)
    assert "slack name 'U0ALICE' belongs to both 'alice' and 'bob'" in text
    assert "api name 'alice' belongs to both 'alice' and 'bob'" in text

    path.write_text("people:\n  alice: {slack: [alice]}\n")
    with pytest.raises(ConfigError, match=r"'alice' is not a Slack user id: write the id"):
        load_config(path, environ={})
    path.write_text("people:\n  alice: {slack: [U0ALICE], cli: [asmith]}\n")
    loaded = load_config(path, environ={})
    assert loaded.people["alice"].cli == ["asmith"]
