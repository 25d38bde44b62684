"""The Slack inbox over real HTTP when a spooled click cannot be stored: that file is set
aside (moved to `rejected/`, audited) and the clicks after it go through; `/readyz` fails
while the store refuses writes or a spooled click waits too long, and recovers by itself."""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
from sqlmodel import select

from daemon.slack.inbox import REJECTED_FOLDER, STALE_AFTER_SECONDS
from daemon.slack.service import SlackService
from daemon.store.models import Approval, AuditEvent, SlackInteraction
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import (
    APPROVERS,
    approve_click,
    detect,
    run_of,
    signed,
    silence_click,
    slack_config,
    with_slack,
    write_data,
)
from tests.slack.served import served

POISONED_USER = "U0POISON"
TRIGGER = "warden_test_refuse"


@pytest.fixture
def daemon(store, tmp_path):
    """The Slack service (not started: tests call its steps) behind a real HTTP server."""
    with FakeSlack() as fake:
        write_data(tmp_path / "data")
        config = slack_config(tmp_path, fake.url)
        with_slack(store, config)
        service = SlackService(store, config)
        (run_id,) = detect(store, config)
        with served(store, config, service.receiver) as base:
            yield service, base, run_of(store, run_id)


def _post(base: str, payload) -> int:
    body, headers = signed(payload)
    return httpx.post(f"{base}/slack/actions", content=body, headers=headers).status_code


def _spooled(service) -> list:
    return sorted(service.inbox.folder.glob("*.json"))


def _rejected(service) -> list:
    return sorted((service.inbox.folder / REJECTED_FOLDER).glob("*.json"))


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _refuse_inserts(store, *, user: str | None = None) -> None:
    """A trigger that makes the store refuse new `slack_interaction` rows (only `user`'s,
    when given): the store answers, but will not take the write."""
    with store.connect() as connection:
        if store.backend == "sqlite":
            when = f"WHEN NEW.user_id = '{user}'" if user else ""
            connection.exec_driver_sql(
                f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON slack_interaction {when} "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            when = f"WHEN (NEW.user_id = '{user}')" if user else ""
            connection.exec_driver_sql(
                f"CREATE FUNCTION {TRIGGER}() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON slack_interaction FOR EACH ROW "
                f"{when} EXECUTE FUNCTION {TRIGGER}()"
            )
        connection.commit()


def _allow_inserts(store) -> None:
    with store.connect() as connection:
        if store.backend == "sqlite":
            connection.exec_driver_sql(f"DROP TRIGGER {TRIGGER}")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER {TRIGGER} ON slack_interaction")
        connection.commit()


def _readyz(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=30)


@pytest.mark.parametrize("poison", ["no_payload", "not_json", "refused_by_the_store"])
def test_a_click_that_cannot_be_stored_is_set_aside_and_the_next_approves(daemon, store, poison):
    service, base, run = daemon
    if poison == "refused_by_the_store":
        _refuse_inserts(store, user=POISONED_USER)
        assert _post(base, silence_click(run.incident_id, user=POISONED_USER)) == 200
        (bad,) = _spooled(service)
    else:
        bad = service.inbox.folder / f"{'0' * 32}.json"
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_text(json.dumps({"source": "http"}) if poison == "no_payload" else "{not js")
    _age(bad, 5)  # the oldest: ingested first
    assert _post(base, approve_click(run, user=APPROVERS[0])) == 200

    service.process()

    assert run_of(store, run.id).status == "approved"  # the click after it went through
    assert _spooled(service) == []
    (aside,) = _rejected(service)
    assert aside.name == bad.name  # moved, not deleted
    with store.session(readonly=True) as session:
        (event,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "slack.rejected")
        ).all()
        stored = session.exec(select(SlackInteraction)).all()
        assert len(session.exec(select(Approval)).all()) == 1
    assert event.entity_id == bad.name and event.actor == "slack-inbox"
    assert event.payload["file"] == f"{REJECTED_FOLDER}/{bad.name}"
    expected = "the store refused it" if poison == "refused_by_the_store" else "not a well-formed"
    assert expected in event.payload["reason"]
    assert [row.user_id for row in stored] == [APPROVERS[0]]
    assert _readyz(base).status_code == 200


def test_while_the_store_refuses_writes_clicks_wait_and_readyz_fails(daemon, store):
    service, base, run = daemon
    assert _readyz(base).status_code == 200
    _refuse_inserts(store)
    assert _post(base, approve_click(run, user=APPROVERS[0])) == 200

    service.process()  # does not raise, and does not set the good click aside

    assert len(_spooled(service)) == 1 and _rejected(service) == []
    degraded = _readyz(base)
    assert degraded.status_code == 503
    checks = degraded.json()["checks"]
    assert checks["store"].startswith("refuses writes:")
    assert checks["slack_inbox"].startswith("stopped on a store write:")
    assert "refused by the test" in checks["slack_inbox"]

    _allow_inserts(store)
    service.process()

    assert run_of(store, run.id).status == "approved"
    assert _spooled(service) == [] and _rejected(service) == []
    assert _readyz(base).json() == {
        "status": "ready",
        "checks": {"store": "ok", "slack_inbox": "ok"},
    }


def test_readyz_fails_while_a_spooled_click_waits_too_long(daemon, store):
    service, base, run = daemon
    assert _post(base, approve_click(run, user=APPROVERS[0])) == 200
    (waiting,) = _spooled(service)
    assert _readyz(base).status_code == 200  # just arrived: the processor has time
    _age(waiting, STALE_AFTER_SECONDS + 60)

    stuck = _readyz(base)

    assert stuck.status_code == 503
    assert "the processor is stuck" in stuck.json()["checks"]["slack_inbox"]
    service.process()
    assert _readyz(base).status_code == 200
    assert run_of(store, run.id).status == "approved"
