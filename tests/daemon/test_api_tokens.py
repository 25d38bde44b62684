"""Per-person API tokens, end to end on both store backends: `warden tokens create|list|
revoke` run as a user would, and the approval and read API over real HTTP: a token turns
the API's auth on, decides as its person, cannot decide as anyone else, stops at once when
revoked, and two tokens of one person cannot make the two approvals of a `two_person` run.
The shared `http.api_token` keeps working, naming callers with `as`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.store.engine import Store
from daemon.store.models import ApiToken, Approval, AuditEvent
from tests.cli.conftest import run_warden
from tests.remediation_world import detect, write_data
from tests.slack.served import served

PEOPLE = {"alice": {"slack": ["U0ALICE"], "cli": ["asmith"], "api": ["al"]}, "bob": {}}


def _config(tmp_path: Path, store: Store, **http: Any) -> WardenConfig:
    """A `two_person` route for null spikes, and the same config written for the CLI."""
    url = store.url.render_as_string(hide_password=False)
    (tmp_path / "warden.yaml").write_text(
        json.dumps({"store": {"url": url}, "people": PEOPLE})  # JSON is YAML
    )
    return WardenConfig.model_validate(
        {
            "store": {"url": url},
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
            "http": {"public_url": "https://warden.example.com", **http},
            "people": PEOPLE,
        }
    )


@pytest.fixture
def world(store: Store, tmp_path: Path) -> tuple[WardenConfig, int]:
    """A config without a shared token, and a proposed `two_person` run."""
    write_data(tmp_path / "data")
    config = _config(tmp_path, store)
    (run_id,) = detect(store, config)
    return config, run_id


def _warden(tmp_path: Path, *args: str):
    return run_warden("tokens", *args, "-c", "warden.yaml", cwd=tmp_path)


def _create(tmp_path: Path, name: str, person: str) -> str:
    made = _warden(tmp_path, "create", name, "--person", person, "--as", "root")
    assert made.code == 0, made.stderr
    return made.stdout.strip()


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _approvals(store: Store) -> list[tuple[str, str]]:
    with store.session(readonly=True) as session:
        rows = session.exec(select(Approval).order_by(col(Approval.id))).all()
        return [(row.actor, row.via) for row in rows]


def test_tokens_are_made_shown_once_listed_and_revoked_from_the_cli(store, tmp_path, world):
    made = _warden(tmp_path, "create", "alice-laptop", "--person", "alice", "--as", "root")
    assert made.code == 0, made.stderr
    secret = made.stdout.strip()
    assert made.stdout == secret + "\n" and secret.startswith("warden_") and len(secret) >= 49
    assert "will not be shown again" in made.stderr and "Note:" not in made.stderr
    stranger = _warden(tmp_path, "create", "carol-ci", "--person", "carol")
    assert stranger.code == 0 and "not a key of the config's `people:`" in stranger.stderr

    with store.session(readonly=True) as session:
        stored = session.exec(select(ApiToken).where(ApiToken.name == "alice-laptop")).one()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(stored.model_dump(mode="json"))
    assert (stored.person, stored.created_by, stored.revoked_at) == ("alice", "root", None)

    listed = _warden(tmp_path, "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["person"], r["revoked_at"]) for r in rows] == [
        ("alice-laptop", "alice", None),
        ("carol-ci", "carol", None),
    ]
    assert secret not in listed.stdout and stored.token_hash not in listed.stdout
    table = _warden(tmp_path, "list")
    assert "alice-laptop" in table.stdout and "active" in table.stdout

    revoked = _warden(tmp_path, "revoke", "alice-laptop", "--as", "bob")
    assert revoked.code == 0 and "revoked" in revoked.stdout
    again = _warden(tmp_path, "revoke", "alice-laptop")
    assert again.code == 2 and "already revoked" in again.stderr
    reused = _warden(tmp_path, "create", "alice-laptop", "--person", "alice")
    assert reused.code == 2 and "names are not reused" in reused.stderr
    missing = _warden(tmp_path, "revoke", "nobody")
    assert missing.code == 2 and "there is no token named 'nobody'" in missing.stderr
    bad = _warden(tmp_path, "create", "a b", "--person", "alice")
    assert bad.code == 2 and "token name 'a b'" in bad.stderr

    with store.session(readonly=True) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action).startswith("token."))
        ).all()
    assert [(e.actor, e.action, e.entity_id, e.payload) for e in events] == [
        ("root", "token.created", "alice-laptop", {"person": "alice"}),
        (events[1].actor, "token.created", "carol-ci", {"person": "carol"}),
        ("bob", "token.revoked", "alice-laptop", {"person": "alice"}),
    ]


def test_every_tokens_command_explains_itself(tmp_path):
    for command in ((), ("create",), ("list",), ("revoke",)):
        shown = run_warden("tokens", *command, "--help", cwd=tmp_path)
        assert shown.code == 0, shown.stderr
    assert "not be shown again" in run_warden("tokens", "create", "--help", cwd=tmp_path).stdout


def test_a_token_turns_auth_on_and_approves_as_its_person(store, tmp_path, world):
    config, run_id = world
    with served(store, config, None) as base:
        approve = f"{base}/api/runs/{run_id}/approve"
        # No token anywhere: reads are open, the approval API is off.
        assert httpx.get(f"{base}/api/incidents").status_code == 200
        assert httpx.post(approve, json={}).status_code == 403
        secret = _create(tmp_path, "alice-laptop", "alice")
        # The first token switches auth on, without a restart.
        assert httpx.get(f"{base}/api/incidents").status_code == 401
        assert httpx.get(f"{base}/api/incidents", headers=_bearer("warden_x")).status_code == 401
        assert httpx.get(f"{base}/api/incidents", headers=_bearer(secret)).status_code == 200
        first = httpx.post(approve, json={}, headers=_bearer(secret))
        assert first.status_code == 200, first.text
        assert "1 of 2" in first.json()["message"]
    assert _approvals(store) == [("api:alice", "api")]
    with store.session(readonly=True) as session:
        (recorded,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "run.approve_recorded")
        ).all()
        token = session.exec(select(ApiToken)).one()
    assert recorded.actor == "api:alice"
    assert token.last_used_at is not None


def test_a_token_cannot_decide_as_someone_else(store, tmp_path, world):
    config, run_id = world
    secret = _create(tmp_path, "alice-laptop", "alice")
    with served(store, config, None) as base:
        url = f"{base}/api/runs/{run_id}/approve"
        refused = httpx.post(url, json={"as": "bob"}, headers=_bearer(secret))
        assert refused.status_code == 403
        assert "belongs to alice; it cannot decide as 'bob'" in refused.json()["detail"]
        assert _approvals(store) == []
        # Her own name, or one of hers in `people:`, is fine: recorded as api:alice.
        mapped = httpx.post(url, json={"as": "al"}, headers=_bearer(secret))
        assert mapped.status_code == 200, mapped.text
    assert _approvals(store) == [("api:alice", "api")]


def test_a_revoked_token_gets_401_at_once(store, tmp_path, world):
    config, run_id = world
    alice = _create(tmp_path, "alice-laptop", "alice")
    bob = _create(tmp_path, "bob-laptop", "bob")
    with served(store, config, None) as base:
        url = f"{base}/api/runs/{run_id}/approve"
        assert httpx.get(f"{base}/api/incidents/1", headers=_bearer(alice)).status_code == 200
        assert _warden(tmp_path, "revoke", "alice-laptop").code == 0
        for response in (
            httpx.get(f"{base}/api/incidents/1", headers=_bearer(alice)),
            httpx.post(url, json={}, headers=_bearer(alice)),
        ):
            assert response.status_code == 401
            assert response.json() == {"detail": "token 'alice-laptop' was revoked"}
            assert response.headers["WWW-Authenticate"] == "Bearer"
        assert httpx.post(url, json={}, headers=_bearer(bob)).status_code == 200
        # Every token revoked: auth is off again (reads open, approvals 403).
        assert _warden(tmp_path, "revoke", "bob-laptop").code == 0
        assert httpx.get(f"{base}/api/incidents").status_code == 200
        assert httpx.post(url, json={}, headers=_bearer(bob)).status_code == 403
    assert _approvals(store) == [("api:bob", "api")]


def test_two_tokens_of_one_person_cannot_make_both_approvals(store, tmp_path, world):
    config, run_id = world
    laptop = _create(tmp_path, "alice-laptop", "alice")
    script = _create(tmp_path, "alice-ci", "alice")
    bob = _create(tmp_path, "bob-laptop", "bob")
    with served(store, config, None) as base:
        url = f"{base}/api/runs/{run_id}/approve"
        assert httpx.post(url, json={}, headers=_bearer(laptop)).status_code == 200
        second = httpx.post(url, json={}, headers=_bearer(script))
        assert second.status_code == 409
        assert second.json()["detail"] == f"alice (api:alice) has already approved run {run_id}"
        done = httpx.post(url, json={}, headers=_bearer(bob))
        assert done.status_code == 200 and done.json()["status"] == "approved"
    assert _approvals(store) == [("api:alice", "api"), ("api:bob", "api")]


def test_the_shared_token_still_names_its_callers_and_people_still_count_once(
    store, tmp_path, world
):
    _config_without, run_id = world
    config = _config(tmp_path, store, api_token="api-secret")
    alice = _create(tmp_path, "alice-laptop", "alice")
    shared = _bearer("api-secret")
    with served(store, config, None) as base:
        url = f"{base}/api/runs/{run_id}/approve"
        nameless = httpx.post(url, json={}, headers=shared)
        assert nameless.status_code == 422
        assert nameless.json()["detail"][0]["loc"] == ["body", "as"]
        # `al` is one of alice's API names (config `people:`): her token cannot add a second.
        assert httpx.post(url, json={"as": "al"}, headers=shared).status_code == 200
        again = httpx.post(url, json={}, headers=_bearer(alice))
        assert again.status_code == 409
        assert "alice has already approved" in again.json()["detail"]
        assert "(as api:al)" in again.json()["detail"]
        done = httpx.post(url, json={"as": "carol"}, headers=shared)
        assert done.json()["status"] == "approved"
    assert _approvals(store) == [("api:al", "api"), ("api:carol", "api")]
