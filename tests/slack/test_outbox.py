"""Incident messages through the outbox: written with the change, sent once, in order,
updated in place, retried on 429 / 5xx / a Slack that is down, never duplicated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from daemon.remediation.approvals import decide
from daemon.remediation.executor import execute_approved
from daemon.slack.dispatcher import METADATA_EVENT, dispatch_once
from daemon.slack.render import APPROVE_ACTION
from daemon.store.models import OutboxMessage
from daemon.store.types import utcnow
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import (
    CHANNEL,
    client_for,
    detect,
    drain,
    outbox,
    run_of,
    slack_config,
    with_slack,
    write_data,
)


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


@pytest.fixture
def world(store, tmp_path, fake):
    write_data(tmp_path / "data")
    config = slack_config(tmp_path, fake.url)
    return with_slack(store, config), config


def _roots(fake):
    """The channel's top-level messages (not thread replies)."""
    return [m for m in fake.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])]


def _buttons(message) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_a_detection_posts_one_message_with_the_plan_and_buttons(world, fake):
    store, config = world
    (run_id,) = detect(store, config)
    kinds = [row.kind for row in outbox(store)]
    assert kinds == ["post", "update", "reply"]  # routed; then proposed: update + reply
    drain(store, config)

    posts = fake.calls_to("chat.postMessage")
    roots = [call for call in posts if not call.params.get("thread_ts")]
    assert len(roots) == 1
    (message,) = _roots(fake)
    run = run_of(store, run_id)
    assert APPROVE_ACTION in _buttons(message)  # the update added the proposal's buttons
    assert run.plan_hash[:12] in str(message["blocks"])
    assert fake.calls_to("chat.update")[0].params["ts"] == message["ts"]
    thread = fake.thread(CHANNEL, message["ts"])
    assert any("proposed" in reply["text"].lower() for reply in thread[1:])
    assert all(row.status == "sent" for row in outbox(store))
    # Every post carries its dedupe key, so a crash after sending can be looked up.
    assert {call.params["metadata"]["event_type"] for call in posts} == {METADATA_EVENT}


def test_repeated_detections_update_the_message_instead_of_posting(world, fake):
    store, config = world
    detect(store, config)
    drain(store, config)
    for hours in (1, 2, 3):  # later scans of the same window
        detect(store, config, later=timedelta(hours=hours))
    drain(store, config)
    roots = [c for c in fake.calls_to("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(roots) == 1
    (message,) = _roots(fake)
    fields = [f["text"] for block in message["blocks"] for f in block.get("fields", [])]
    assert "*Occurrences*\n4" in fields  # 4 detections, updated in place
    assert len(fake.calls_to("chat.update")) >= 2


def test_decisions_and_the_run_are_told_in_the_thread_and_the_message_ends_final(world, fake):
    """Approved in Slack, applied, then verification fails (the scenario's monitor is not in
    the config, so it cannot be evaluated again): rolled back, back with a person."""
    store, config = world
    (run_id,) = detect(store, config)
    with store.session() as session:
        decide(session, config, run_id, "approve", actor="slack:U0ALICE", via="slack")
    (outcome,) = execute_approved(store, config, identity="test-worker")
    assert outcome.status == "rolled_back"
    drain(store, config)

    (message,) = _roots(fake)
    texts = [reply["text"] for reply in fake.thread(CHANNEL, message["ts"])[1:]]
    run = run_of(store, run_id)
    # In order: proposed, approval by Alice, started (the incident: remediating), each
    # step applied and undone, the outcome, and the incident going back to a person.
    assert "proposed" in texts[0] and "<@U0ALICE>" in texts[1] and "started" in texts[2]
    assert "remediating" in texts[3]
    steps = [text for text in texts if text.startswith("•")]
    assert len(steps) == len(run.step_log) >= 2
    first_step = texts.index(steps[0])
    assert texts[first_step : first_step + len(steps)] == steps
    assert "rolled back" in texts[first_step + len(steps)]
    assert "acknowledged" in texts[-1]
    assert APPROVE_ACTION not in _buttons(message)  # decided: no buttons any more
    assert "rolled" in str(message["blocks"]).lower()


def test_a_rate_limit_waits_for_retry_after_and_counts_no_attempt(world, fake):
    store, config = world
    detect(store, config)
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    before = utcnow()
    (delivery, *_) = dispatch_once(store, client_for(config))
    assert delivery.status == "pending"
    with store.session(readonly=True) as session:
        root = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "post")).one()
    assert root.attempts == 0 and "ratelimited" in (root.last_error or "")
    assert timedelta(seconds=6) <= root.next_attempt_at - before <= timedelta(seconds=9)
    assert _roots(fake) == []
    # Nothing of that incident goes out before its message: the thread keeps its order.
    assert dispatch_once(store, client_for(config)) == []
    later = utcnow() + timedelta(seconds=8)
    assert dispatch_once(store, client_for(config), now=later)[0].status == "sent"


def test_server_errors_back_off_and_a_down_slack_gets_everything_once_it_returns(world, fake):
    store, config = world
    detect(store, config)
    fake.set_down(True)
    moment = utcnow()
    for attempt in range(1, 4):
        moment += timedelta(minutes=10)
        (delivery, *_) = dispatch_once(store, client_for(config), now=moment)
        assert delivery.status == "pending"
        row = outbox(store)[0]
        assert row.attempts == attempt
        # Exponential: 2, 4, 8 seconds after the attempt.
        assert row.next_attempt_at - utcnow() <= timedelta(seconds=2**attempt + 1)
    fake.set_down(False)
    for _ in range(10):
        moment += timedelta(minutes=10)
        if not dispatch_once(store, client_for(config), now=moment):
            break
    roots = [c for c in fake.calls_to("chat.postMessage") if c.ok and not c.params.get("thread_ts")]
    assert len(roots) == 1
    assert all(row.status == "sent" for row in outbox(store))


def test_a_permanent_error_fails_the_row_and_its_thread_with_the_reason(world, fake):
    store, config = world
    detect(store, config)
    fake.fail_next("chat.postMessage", error="channel_not_found")
    drain(store, config)
    statuses = [(row.kind, row.status) for row in outbox(store)]
    assert statuses[0] == ("post", "failed")
    assert {status for _, status in statuses[1:]} == {"failed"}
    assert "channel_not_found" in (outbox(store)[0].last_error or "")


def test_a_post_that_reached_slack_before_a_crash_is_found_not_posted_again(world, fake):
    """The answer to a post was lost (the process died, or the connection dropped after
    Slack stored it): the next attempt finds it by its metadata and records its ts."""
    store, config = world
    config.slack.channel = fake.channel_id(CHANNEL)  # history lookups need the id
    detect(store, config)
    row = outbox(store)[0]
    client_for(config).chat_postMessage(  # what the first attempt delivered
        channel=row.channel,
        text="x",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": row.dedupe_key}},
    )
    with store.session() as session:  # as left by an attempt that never heard back
        current = session.get(OutboxMessage, row.id)
        current.attempts, current.status = 1, "pending"
        session.add(current)
    drain(store, config)
    roots = [c for c in fake.calls_to("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(roots) == 1  # only the "first attempt"
    (message,) = _roots(fake)
    assert outbox(store)[0].external_id == message["ts"]
    assert len(fake.thread(CHANNEL, message["ts"])) == 2  # and the proposal's reply


def test_two_dispatchers_at_once_send_every_message_once(world, fake):
    """Two replicas' dispatchers on one store: claims never overlap (SKIP LOCKED on
    PostgreSQL, the write lock on SQLite), so nothing is posted twice or out of order."""
    import threading

    store, config = world
    # Three incidents on three days (the same scan time would group them in one message).
    for day, monitor in enumerate(("quality-a", "quality-b", "quality-c")):
        detect(store, config, day=day, monitor=monitor)
    workers = [threading.Thread(target=drain, args=(store, config)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert {row.status for row in outbox(store)} <= {"sent", "superseded"}
    posts = fake.calls_to("chat.postMessage")
    keys = [call.params["metadata"]["event_payload"]["key"] for call in posts]
    assert len(keys) == len(set(keys)) == 6  # 3 messages + 3 replies, each once
    for root in _roots(fake):
        thread = fake.thread(CHANNEL, root["ts"])
        assert len(thread) == 2  # the reply landed in its own incident's thread


def test_a_two_person_message_counts_its_approvals(store, tmp_path, fake):
    write_data(tmp_path / "data")
    config = slack_config(tmp_path, fake.url, approval="two_person")
    with_slack(store, config)
    (run_id,) = detect(store, config)
    with store.session() as session:
        decide(session, config, run_id, "approve", actor="slack:U0ALICE", via="slack")
    drain(store, config)
    (message,) = _roots(fake)
    assert "(1 of 2 needed)" in str(message["blocks"])
    assert APPROVE_ACTION in _buttons(message)  # still waiting for the second person


def test_a_rendering_bug_never_undoes_the_change_it_reports(world, monkeypatch):
    """The proposal is stored even if its reply cannot be rendered; a plain reply says what
    happened instead, so nothing goes unsaid."""
    store, config = world

    def broken(*_args, **_kwargs):
        raise RuntimeError("a renderer bug")

    monkeypatch.setattr("daemon.slack.render.run_proposed_reply", broken)
    (run_id,) = detect(store, config)
    assert run_of(store, run_id).status == "proposed"
    replies = [row.payload["text"] for row in outbox(store) if row.kind == "reply"]
    assert replies == [f"run.proposed by router (playbook_run {run_id})"]
