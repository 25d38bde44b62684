"""Grouped incidents in Slack, through the real slack_sdk and the fake Slack API: one parent
message for a scan that opens five incidents, each incident's card with its own buttons in
the thread, a later member updating the parent, escalation steps posted and mentioned, and
a refused page said in the thread."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.incidents.escalation_runner import fire_due
from daemon.incidents.lifecycle import change_status
from daemon.paging.dispatcher import dispatch_pages
from daemon.paging.page_writer import install_page_writer
from daemon.slack.values import SILENCE_ACTION
from daemon.store.models import AuditEvent, IncidentStatus
from daemon.store.types import utcnow
from detectors.results import Finding
from tests.oncall.world import scan
from tests.paging.fake_pagerduty import FakePagerDuty
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import CHANNEL, drain, outbox, slack_config, with_slack

FINDINGS = [
    Finding("null_spike", "salary", "null_rate", 0.4, 0.05, True),
    Finding("feature_drift", "region", "jensen_shannon", 0.3, 0.1, True),
    Finding("out_of_range", "age", "max", 300, 120, True),
    Finding("category_emergence", "state", "new_share", 0.2, 0.01, True),
    Finding("volume_drop", None, "row_count", 10, 1000, True),
]
LEADS = "C0LEADS"
WRONG_KEY = "WR0NGKEY000000000000000000000000"


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


def _config(tmp_path, fake: FakeSlack, pagerduty_url: str | None = None) -> WardenConfig:
    base = slack_config(tmp_path, fake.url).model_dump(mode="json", exclude_none=True)
    base["slack"]["bot_token"] = "xoxb-test"
    base["slack"]["signing_secret"] = "s" * 32
    base["http"]["api_token"] = "api-secret"
    steps = [{"after": "15m", "notify": LEADS, "mention": "S0614TZR7"}]
    if pagerduty_url:
        base["pagerduty"] = {"routing_key": WRONG_KEY, "events_url": pagerduty_url}
        steps.insert(0, {"after": "0m", "page": "pagerduty"})
    base["escalations"] = [{"name": "default", "steps": steps}]
    return WardenConfig.model_validate(base)


def _scan(store, config, findings, at, monitor="quality"):
    return scan(store, config, findings, at, monitor=monitor, dataset="events")


def _parents(fake: FakeSlack) -> list[dict]:
    return [m for m in fake.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])]


def _buttons(message: dict) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_a_scan_opening_five_incidents_posts_one_group_message(store, tmp_path, fake):
    config = _config(tmp_path, fake)
    with_slack(store, config)
    t0 = utcnow()
    outcome = _scan(store, config, FINDINGS, t0)
    assert len(outcome.opened) == 5 and len(outcome.grouped) == 1
    drain(store, config)
    (parent,) = _parents(fake)
    assert parent["text"].startswith("5 incidents on events (critical)")
    lines = [b["text"]["text"] for b in parent["blocks"] if b["type"] == "section"]
    assert len(lines) == 5 and all(f"#{i}" in " ".join(lines) for i in outcome.opened)
    thread = fake.thread(CHANNEL, parent["ts"])[1:]
    cards = [m for m in thread if _buttons(m)]
    assert len(cards) == 5  # each incident's card, with its own buttons, in the thread
    for card, incident_id in zip(cards, outcome.opened, strict=True):
        silence = next(
            element
            for block in card["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == SILENCE_ACTION
        )
        assert json.loads(silence["value"])["incident"] == incident_id

    # A sixth incident at the same scan time (another monitor) updates the parent.
    posts_before = len(fake.calls_to("chat.postMessage"))
    later = _scan(store, config, [FINDINGS[0]], t0, monitor="quality-b")
    assert list(later.grouped) == list(outcome.grouped)
    drain(store, config)
    (parent,) = _parents(fake)
    assert parent["text"].startswith("6 incidents on events")
    new_posts = fake.calls_to("chat.postMessage")[posts_before:]
    assert [bool(call.params.get("thread_ts")) for call in new_posts] == [True]  # its card

    # Closing every member closes the group; the parent says so.
    for incident_id in [*outcome.opened, *later.opened]:
        with store.session() as session:
            change_status(
                session, incident_id, IncidentStatus.closed, actor="U0ALICE", reason="done"
            )
    drain(store, config)
    (parent,) = _parents(fake)
    assert "All resolved or closed" in json.dumps(parent["blocks"])
    with store.session(readonly=True) as session:
        closed = session.exec(select(AuditEvent).where(AuditEvent.action == "group.closed"))
        assert len(closed.all()) == 1


def test_an_unacknowledged_group_escalates_to_the_leads_channel(store, tmp_path, fake):
    config = _config(tmp_path, fake)
    with_slack(store, config)
    t0 = utcnow()
    _scan(store, config, FINDINGS[:2], t0)
    drain(store, config)
    assert fire_due(store, config, identity="a", now=t0 + timedelta(minutes=14)) == []
    fired = fire_due(store, config, identity="a", now=t0 + timedelta(minutes=16))
    assert [f.action for f in fired] == ["notify"]
    drain(store, config)
    (note,) = fake.messages(LEADS)
    assert note["text"].startswith(":rotating_light: <!subteam^S0614TZR7> Escalation")
    assert "2 open incident(s) on events" in note["text"]


def test_an_escalation_to_a_missing_channel_is_recorded_and_said(store, tmp_path):
    with FakeSlack(missing_channels={LEADS}) as fake:
        config = _config(tmp_path, fake)
        with_slack(store, config)
        t0 = utcnow()
        _scan(store, config, FINDINGS[:2], t0)
        fire_due(store, config, identity="a", now=t0 + timedelta(minutes=16))
        drain(store, config)
        assert fake.messages(LEADS) == []
        (parent,) = _parents(fake)
        replies = [m["text"] for m in fake.thread(CHANNEL, parent["ts"])[1:]]
    assert any("not notify C0LEADS: Slack refused it: channel_not_found" in r for r in replies)
    with store.session(readonly=True) as session:
        (failed,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "escalation.notify_failed")
        ).all()
    assert failed.payload["channel"] == LEADS


def test_a_refused_page_is_recorded_and_said_in_the_thread(store, tmp_path, fake):
    with FakePagerDuty() as pagerduty:
        config = _config(tmp_path, fake, pagerduty.url)
        with_slack(store, config)
        install_page_writer(store, config)
        t0 = utcnow()
        _scan(store, config, FINDINGS[:2], t0)
        assert [f.action for f in fire_due(store, config, identity="a", now=t0)] == ["page"]
        (delivery,) = dispatch_pages(store, config.pagerduty)  # type: ignore[arg-type]
        assert delivery.status == "failed" and "Invalid routing key" in delivery.detail
        assert pagerduty.alerts == []
    with store.session(readonly=True) as session:
        (refused,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "page.refused")
        ).all()
        assert "Invalid routing key" in refused.payload["detail"]
    drain(store, config)
    (parent,) = _parents(fake)
    replies = [m["text"] for m in fake.thread(CHANNEL, parent["ts"])[1:]]
    assert any(text.startswith(":pager: Paging PagerDuty") for text in replies)
    assert any("PagerDuty refused the event (400)" in text for text in replies)
    page_rows = [row for row in outbox(store) if row.transport == "pagerduty"]
    assert [(row.kind, row.status) for row in page_rows] == [("trigger", "failed")]
    assert not any(WRONG_KEY in json.dumps(row.payload) for row in page_rows)


def test_an_incident_whose_card_failed_never_redraws_the_parent(store, tmp_path, fake):
    """The first incident's own post became the group's parent when a second joined; its
    card then fails for good: its next update fails with it, the parent keeps the list."""
    config = _config(tmp_path, fake)
    with_slack(store, config)
    t0 = utcnow()
    (first,) = _scan(store, config, [FINDINGS[0]], t0, monitor="m1").opened
    drain(store, config)
    _scan(store, config, [FINDINGS[1]], t0, monitor="m2")
    with store.session() as session:
        change_status(session, first, IncidentStatus.acknowledged, actor="U0ALICE")
    fake.fail_next("chat.postMessage", error="msg_too_long")  # the first card
    drain(store, config)
    (parent,) = _parents(fake)
    assert parent["text"].startswith("2 incidents on events")
    rows = {
        row.dedupe_key.split(":")[2]: row.status
        for row in outbox(store)
        if row.incident_id == first
    }
    assert rows["card"] == "failed" and rows["update"] == "failed"
