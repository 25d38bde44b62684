"""Slack's request URL and the approval API over real HTTP (uvicorn on 127.0.0.1): signed
interactions are acknowledged at once and acted on once; forged, altered, expired or
unsigned ones get 401 and write nothing; only approvers decide."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import col, select

from daemon.http.app import create_app
from daemon.http.server import HttpServer
from daemon.slack.service import SlackService
from daemon.slack.values import ACK_ACTION, ACK_GROUP_ACTION
from daemon.store.models import Approval, AuditEvent, Incident, Silence, SlackInteraction
from daemon.store.oncall_models import IncidentGroup
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import (
    APPROVERS,
    GROUP,
    GROUP_MEMBER,
    OUTSIDER,
    approve_click,
    click,
    detect,
    reason_submission,
    reject_click,
    run_of,
    signed,
    silence_click,
    slack_config,
    with_slack,
    write_data,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fake():
    with FakeSlack(usergroups={GROUP: [GROUP_MEMBER]}) as server:
        yield server


@pytest.fixture
def daemon(store, tmp_path, fake):
    """The Slack service (not started: tests call its steps) behind a real HTTP server."""
    write_data(tmp_path / "data")
    config = slack_config(tmp_path, fake.url, approval="two_person")
    with_slack(store, config)
    service = SlackService(store, config)
    port = _free_port()
    server = HttpServer(create_app(store, config, service.receiver), "127.0.0.1", port)
    server.start()
    (run_id,) = detect(store, config)
    yield service, f"http://127.0.0.1:{port}", run_of(store, run_id)
    server.stop()


def _post(base: str, payload, **signing) -> httpx.Response:
    body, headers = signed(payload, **signing)
    return httpx.post(f"{base}/slack/actions", content=body, headers=headers, timeout=10)


def _interactions(store) -> list[SlackInteraction]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(SlackInteraction)).all())


def _spooled(service) -> list:
    return sorted(service.inbox.folder.glob("*.json")) if service.inbox.folder.exists() else []


def test_a_signed_click_is_acknowledged_at_once_and_approves_once(daemon, store):
    service, base, run = daemon
    started = time.monotonic()
    response = _post(base, approve_click(run, user=APPROVERS[0]))
    assert response.status_code == 200 and time.monotonic() - started < 3
    assert len(_spooled(service)) == 1  # durable before the answer
    service.process()
    assert _spooled(service) == []
    (interaction,) = _interactions(store)
    assert interaction.status == "done" and "approval 1 of 2" in (interaction.result or "")
    with store.session(readonly=True) as session:
        (approval,) = session.exec(select(Approval)).all()
    assert (approval.actor, approval.via, approval.plan_hash) == (
        f"slack:{APPROVERS[0]}",
        "slack",
        run.plan_hash,
    )


@pytest.mark.parametrize(
    "tamper",
    ["forged", "altered", "expired", "unsigned", "future"],
)
def test_bad_signatures_get_401_and_write_nothing(daemon, store, tamper):
    service, base, run = daemon
    payload = approve_click(run)
    if tamper == "forged":
        body, headers = signed(payload, secret="not-the-secret")
    elif tamper == "expired":
        body, headers = signed(payload, timestamp=int(time.time()) - 6 * 60)
    elif tamper == "future":
        body, headers = signed(payload, timestamp=int(time.time()) + 6 * 60)
    else:
        body, headers = signed(payload)
    if tamper == "altered":
        body = body.replace(b"U0ALICE", b"U0BOB")
    if tamper == "unsigned":
        headers = {"Content-Type": headers["Content-Type"]}
    response = httpx.post(f"{base}/slack/actions", content=body, headers=headers, timeout=10)
    assert response.status_code == 401
    service.process()
    assert _spooled(service) == [] and _interactions(store) == []
    with store.session(readonly=True) as session:
        assert session.exec(select(Approval)).all() == []


def test_retried_deliveries_and_double_clicks_give_one_decision(daemon, store, fake):
    service, base, run = daemon
    payload = approve_click(run, user=APPROVERS[0], action_ts="1700000000.000001")
    for retry in range(3):  # Slack's retries carry the same payload
        body, headers = signed(payload)
        headers["X-Slack-Retry-Num"] = str(retry)
        assert httpx.post(f"{base}/slack/actions", content=body, headers=headers).status_code == 200
    assert _post(base, approve_click(run, user=APPROVERS[0])).status_code == 200  # clicked again
    service.process()
    interactions = _interactions(store)
    assert [i.status for i in interactions] == ["done", "refused"]
    assert "already approved" in (interactions[1].result or "")
    with store.session(readonly=True) as session:
        assert len(session.exec(select(Approval)).all()) == 1
    service.dispatch()
    (refusal,) = fake.ephemerals()
    assert refusal["user"] == APPROVERS[0] and "already approved" in refusal["text"]


def test_two_approvers_at_once_approve_once_and_a_third_is_told(daemon, store):
    service, base, run = daemon
    clicks = [approve_click(run, user=user) for user in (*APPROVERS, GROUP_MEMBER)]
    threads = [threading.Thread(target=_post, args=(base, click)) for click in clicks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    service.process()
    assert run_of(store, run.id).status == "approved"
    statuses = sorted(i.status for i in _interactions(store))
    assert statuses == ["done", "done", "refused"]  # the third came after the decision
    with store.session(readonly=True) as session:
        approvals = session.exec(select(Approval)).all()
        assert len(approvals) == 2 and len({a.actor for a in approvals}) == 2
        approved = session.exec(select(AuditEvent).where(AuditEvent.action == "run.approved")).all()
        assert len(approved) == 1


def test_a_group_member_may_approve_and_an_outsider_is_refused_and_audited(daemon, store, fake):
    service, base, run = daemon
    _post(base, approve_click(run, user=OUTSIDER))
    _post(base, approve_click(run, user=GROUP_MEMBER))
    service.process()
    outsider, member = _interactions(store)
    assert outsider.status == "refused" and "not an approver" in (outsider.result or "")
    assert member.status == "done"
    with store.session(readonly=True) as session:
        (approval,) = session.exec(select(Approval)).all()
        assert approval.actor == f"slack:{GROUP_MEMBER}"
        (refused,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "slack.refused")
        ).all()
        assert refused.actor == f"slack:{OUTSIDER}"
    service.dispatch()
    (refusal,) = fake.ephemerals()
    assert refusal["user"] == OUTSIDER
    assert [c.params["usergroup"] for c in fake.calls_to("usergroups.users.list")] == [GROUP]


def test_another_workspace_is_refused(daemon, store):
    service, base, run = daemon
    _post(base, approve_click(run, user=APPROVERS[0], team="T0OTHER"))
    service.process()
    (interaction,) = _interactions(store)
    assert interaction.status == "refused" and "T0OTHER" in (interaction.result or "")
    assert run_of(store, run.id).status == "proposed"


def test_reject_opens_a_reason_dialog_and_the_reason_rejects(daemon, store, fake):
    service, base, run = daemon
    _post(base, reject_click(run))
    (opened,) = fake.wait_for_calls("views.open")
    assert opened.params["view"]["callback_id"] == "warden_reject_reason"
    assert run_of(store, run.id).status == "proposed"  # a click alone decides nothing
    _post(base, reason_submission(run, "the nulls are expected: the feed changed format"))
    service.process()
    rejected = run_of(store, run.id)
    assert rejected.status == "rejected"
    with store.session(readonly=True) as session:
        (decision,) = session.exec(select(Approval)).all()
    assert decision.decision == "reject" and "feed changed" in (decision.reason or "")


def test_a_click_on_an_outdated_plan_decides_nothing(daemon, store, fake):
    service, base, run = daemon
    stale = approve_click(run)
    stale["actions"][0]["value"] = stale["actions"][0]["value"].replace(run.plan_hash, "0" * 64)
    _post(base, stale)
    service.process()
    (interaction,) = _interactions(store)
    assert interaction.status == "refused" and "another plan" in (interaction.result or "")
    assert run_of(store, run.id).status == "proposed"
    with store.session(readonly=True) as session:
        assert session.exec(select(Approval)).all() == []
    service.dispatch()
    (refusal,) = fake.ephemerals()
    assert "another plan" in refusal["text"]


def test_silence_24h_silences_the_incident_pattern_and_says_so(daemon, store, fake):
    service, base, run = daemon
    _post(base, silence_click(run.incident_id))
    service.process()
    service.dispatch()
    with store.session(readonly=True) as session:
        (silence,) = session.exec(select(Silence)).all()
    assert (silence.dataset, silence.pattern) == ("events", "null_spike")
    hours = (silence.ends_at - silence.starts_at).total_seconds() / 3600
    assert hours == 24
    replies = [m["text"] for m in fake.messages("#ml-oncall") if "Silenced" in m["text"]]
    assert len(replies) == 1 and f"<@{APPROVERS[0]}>" in replies[0]
    (message,) = [m for m in fake.messages("#ml-oncall") if m.get("thread_ts") in (None, m["ts"])]
    assert "warden_silence" not in str(message["blocks"])  # updated: silenced, no button
    assert "silence:" in str(message["blocks"])
    _post(base, silence_click(run.incident_id, user=APPROVERS[1]))  # a second click
    service.process()
    assert "already silenced" in (_interactions(store)[-1].result or "")
    with store.session(readonly=True) as session:
        assert len(session.exec(select(Silence)).all()) == 1


def test_acknowledge_from_slack_acknowledges_the_incident_once(daemon, store, fake):
    service, base, run = daemon
    _post(base, click(ACK_ACTION, {"incident": run.incident_id}))
    service.process()
    service.dispatch()
    with store.session(readonly=True) as session:
        incident = session.get(Incident, run.incident_id)
        assert incident is not None and incident.status == "acknowledged"
        group = session.get(IncidentGroup, incident.group_id)
        assert group is not None and group.status == "acknowledged"  # its escalation stops
    assert _interactions(store)[-1].status == "done"
    (message,) = [m for m in fake.messages("#ml-oncall") if m.get("thread_ts") in (None, m["ts"])]
    assert ACK_ACTION not in str(message["blocks"])  # updated: acknowledged, no button
    replies = [m["text"] for m in fake.thread("#ml-oncall", message["ts"])[1:]]
    assert any("acknowledged" in text for text in replies)
    _post(base, click(ACK_ACTION, {"incident": run.incident_id}, user=APPROVERS[1]))
    service.process()
    assert "cannot become acknowledged" in (_interactions(store)[-1].result or "")
    _post(base, click(ACK_ACTION, {"incident": run.incident_id}, user=OUTSIDER))
    service.process()
    assert _interactions(store)[-1].status == "refused"


def test_acknowledge_all_on_a_group_parent_acknowledges_its_open_incidents(daemon, store, fake):
    service, base, run = daemon
    detect(store, service.config, monitor="quality-b")  # same scan time: same group
    service.dispatch()
    (parent,) = [m for m in fake.messages("#ml-oncall") if m.get("thread_ts") in (None, m["ts"])]
    assert ACK_GROUP_ACTION in str(parent["blocks"])  # two incidents: the group's list
    with store.session(readonly=True) as session:
        first = session.get(Incident, run.incident_id)
        assert first is not None and first.group_id is not None
        group_id = first.group_id
    _post(base, click(ACK_GROUP_ACTION, {"group": group_id}))
    service.process()
    service.dispatch()
    assert _interactions(store)[-1].status == "done"
    with store.session(readonly=True) as session:
        members = session.exec(select(Incident).where(Incident.group_id == group_id)).all()
        assert [m.status for m in members] == ["acknowledged", "acknowledged"]
        group = session.get(IncidentGroup, group_id)
        assert group is not None and group.status == "acknowledged"
    (parent,) = [m for m in fake.messages("#ml-oncall") if m.get("thread_ts") in (None, m["ts"])]
    assert ACK_GROUP_ACTION not in str(parent["blocks"])  # nothing open: the button goes
    _post(base, click(ACK_GROUP_ACTION, {"group": group_id}, user=APPROVERS[1]))
    service.process()
    assert "is open any more" in (_interactions(store)[-1].result or "")


def test_the_approval_api_needs_its_token_and_follows_the_same_rules(daemon, store):
    _service, base, run = daemon
    url = f"{base}/api/runs/{run.id}/approve"
    assert httpx.post(url, json={"as": "alice"}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(url, json={"as": "alice"}, headers=wrong).status_code == 401
    good = {"Authorization": "Bearer api-secret"}
    first = httpx.post(url, json={"as": "alice"}, headers=good)
    assert first.status_code == 200 and "1 of 2" in first.json()["message"]
    again = httpx.post(url, json={"as": "alice"}, headers=good)
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    second = httpx.post(url, json={"as": "bob"}, headers=good)
    assert second.json()["status"] == "approved"
    missing = httpx.post(
        f"{base}/api/runs/999/reject", json={"as": "x", "reason": "r"}, headers=good
    )
    assert missing.status_code == 404
    with store.session(readonly=True) as session:
        vias = session.exec(select(Approval.via).order_by(col(Approval.id))).all()
    assert vias == ["api", "api"]


def test_the_message_links_the_report_served_by_warden(daemon, store, fake):
    service, base, run = daemon
    service.dispatch()
    (message,) = [m for m in fake.messages("#ml-oncall") if m.get("thread_ts") in (None, m["ts"])]
    urls = [
        element.get("url")
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    # http.api_token is set, so the link is signed and expires (daemon.reporting.report_links).
    (link,) = [url for url in urls if url and url.startswith("https://warden.example.com/")]
    parts = urlsplit(link)
    assert parts.path == f"/incidents/{run.incident_id}"
    assert sorted(parse_qs(parts.query)) == ["exp", "sig"]
    page = httpx.get(f"{base}{parts.path}?{parts.query}")
    assert page.status_code == 200 and f"Incident #{run.incident_id}" in page.text
    assert httpx.get(f"{base}{parts.path}").status_code == 401  # the bare path is not enough
    token = {"Authorization": "Bearer api-secret"}
    assert httpx.get(f"{base}/incidents/999", headers=token).status_code == 404


def test_clicks_are_acknowledged_at_once_while_the_store_is_locked(daemon, store, tmp_path):
    """A writer holding the store's locks (a long transaction elsewhere) delays the decision,
    not Slack's acknowledgement: the click is spooled, then stored once the lock is gone."""
    service, base, run = daemon
    with store.connect() as blocker:
        if store.backend == "sqlite":
            blocker.exec_driver_sql("UPDATE incident SET title = title")  # the write lock
        else:
            blocker.exec_driver_sql("LOCK TABLE slack_interaction IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = _post(base, approve_click(run))
        elapsed = time.monotonic() - started
        assert response.status_code == 200 and elapsed < 1.0
        assert len(_spooled(service)) == 1
        blocker.rollback()
    service.process()
    (interaction,) = _interactions(store)
    assert interaction.status == "done"


def test_a_malformed_timestamp_header_is_401_not_a_crash(daemon, store):
    service, base, run = daemon
    body, headers = signed(approve_click(run))
    headers["X-Slack-Request-Timestamp"] = "abc"
    assert httpx.post(f"{base}/slack/actions", content=body, headers=headers).status_code == 401
    assert _spooled(service) == []


def test_outsiders_can_neither_silence_nor_reject(daemon, store):
    service, base, run = daemon
    _post(base, silence_click(run.incident_id, user=OUTSIDER))
    _post(base, reason_submission(run, "I do not like it", user=OUTSIDER))
    service.process()
    assert [i.status for i in _interactions(store)] == ["refused", "refused"]
    assert run_of(store, run.id).status == "proposed"
    with store.session(readonly=True) as session:
        assert session.exec(select(Silence)).all() == []


def test_a_click_that_fails_is_told_and_does_not_block_the_next(daemon, store, fake):
    """Re-planning raises (the run's dataset was removed from the config): that click is
    `failed`, audited and told; the click after it is handled as usual."""
    service, base, run = daemon
    broken = service.config.model_copy(update={"datasets": {}})
    service.processor.config = broken
    _post(base, approve_click(run))
    _post(base, silence_click(run.incident_id, user=APPROVERS[1]))
    service.process()
    failed, silenced = _interactions(store)
    assert failed.status == "failed" and "KeyError" in (failed.result or "")
    assert silenced.status == "done"
    with store.session(readonly=True) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "slack.failed")).all()
    assert event.actor == f"slack:{APPROVERS[0]}"
    service.dispatch()
    assert any("could not do that" in e["text"] for e in fake.ephemerals())


def test_a_click_on_an_expired_proposal_is_told_so(daemon, store, fake):
    service, base, run = daemon
    with store.session() as session:
        stored = session.get(type(run), run.id)
        stored.created_at = stored.created_at - timedelta(hours=25)
        session.add(stored)
    _post(base, approve_click(run))
    service.process()
    (interaction,) = _interactions(store)
    assert interaction.status == "refused" and "expired" in (interaction.result or "")
    assert run_of(store, run.id).status == "expired"
    service.dispatch()
    assert any("expired" in e["text"] for e in fake.ephemerals())


def test_api_names_cannot_pass_for_slack_users_or_policies(daemon):
    _service, base, run = daemon
    good = {"Authorization": "Bearer api-secret"}
    url = f"{base}/api/runs/{run.id}/approve"
    for name in ("slack:U0ALICE", "policy:auto", "<!channel>", ""):
        assert httpx.post(url, json={"as": name}, headers=good).status_code == 422
