"""The PagerDuty dispatcher on the store, against the fake Events API over real HTTP: a page
with its details and dedup key, 429 waits without counting an attempt, 5xx backs off, a
group over before its page was sent pages nobody, and events of a group leave in order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from daemon.config.models import WardenConfig
from daemon.incidents.escalation_runner import fire_due
from daemon.incidents.lifecycle import change_status
from daemon.paging.dispatcher import dispatch_pages, page_backlog
from daemon.paging.page_writer import install_page_writer
from daemon.store.models import IncidentStatus
from daemon.store.types import utcnow
from detectors.results import Finding
from tests.oncall.world import page_rows, scan
from tests.paging.fake_pagerduty import ROUTING_KEY, FakePagerDuty

NULLS = Finding("null_spike", "salary", "null_rate", 0.4, 0.05, True)
DRIFT = Finding("feature_drift", "region", "jensen_shannon", 0.3, 0.1, True)


@pytest.fixture
def pagerduty():
    with FakePagerDuty() as server:
        yield server


def _world(store, url: str):
    config = WardenConfig.model_validate(
        {
            "pagerduty": {"routing_key": ROUTING_KEY, "events_url": url},
            "escalations": [{"name": "p", "steps": [{"after": "0m", "page": "pagerduty"}]}],
            "http": {"public_url": "https://warden.example.com"},
        }
    )
    install_page_writer(store, config)
    t0 = utcnow()
    opened = scan(store, config, [NULLS, DRIFT], t0).opened
    return config, t0, opened


def _close_all(store, ids, to=IncidentStatus.closed) -> None:
    for incident_id in ids:
        with store.session() as session:
            change_status(session, incident_id, to, actor="U0ALICE", reason="handled")


def test_one_page_for_the_group_with_its_details(store, pagerduty):
    config, t0, opened = _world(store, pagerduty.url)
    fire_due(store, config, identity="a", now=t0)
    (delivery,) = dispatch_pages(store, config.pagerduty)
    assert delivery.status == "sent"
    ((request),) = pagerduty.events
    event = request["event"]
    assert event["routing_key"] == ROUTING_KEY  # added at send time only
    payload = event["payload"]
    assert payload["summary"] == "[critical] 2 incidents on loans: feature_drift, null_spike"
    assert payload["source"] == "warden/loans" and payload["severity"] == "critical"
    details = payload["custom_details"]
    assert [i["id"] for i in details["incidents"]] == opened
    assert details["findings"][0] == f"#{opened[0]} salary: null_rate 0.4 vs 0.05"
    assert details["report_url"] == f"https://warden.example.com/incidents/{opened[0]}"
    assert event["links"] == [{"href": details["report_url"], "text": "Incident report"}]
    assert event["dedup_key"].endswith("-g1") and len(event["dedup_key"]) == 67
    (row,) = page_rows(store)
    assert row.external_id == event["dedup_key"] and "routing_key" not in row.payload


def test_rate_limits_wait_uncounted_and_server_errors_back_off(store, pagerduty):
    config, t0, _ = _world(store, pagerduty.url)
    fire_due(store, config, identity="a", now=t0)
    t0 = utcnow()  # the trigger is due from when it was written
    pagerduty.fail_next(429)
    (first,) = dispatch_pages(store, config.pagerduty, now=t0)
    (row,) = page_rows(store)
    assert first.status == "pending" and row.attempts == 0  # a 429 is not a failure
    assert row.next_attempt_at - t0 == timedelta(seconds=30)
    pagerduty.fail_next(429, retry_after=7)
    dispatch_pages(store, config.pagerduty, now=t0 + timedelta(seconds=30))
    (row,) = page_rows(store)
    assert row.attempts == 0 and row.next_attempt_at - t0 == timedelta(seconds=37)
    pagerduty.fail_next(503)
    later = t0 + timedelta(seconds=40)
    dispatch_pages(store, config.pagerduty, now=later)
    (row,) = page_rows(store)
    assert row.attempts == 1 and row.next_attempt_at - later == timedelta(seconds=2)
    assert dispatch_pages(store, config.pagerduty, now=later + timedelta(seconds=1)) == []
    (sent,) = dispatch_pages(store, config.pagerduty, now=later + timedelta(seconds=3))
    assert sent.status == "sent" and len(pagerduty.alerts) == 1
    assert page_backlog(store) == 0


def test_a_group_over_before_its_page_left_pages_nobody(store, pagerduty):
    config, t0, opened = _world(store, pagerduty.url)
    fire_due(store, config, identity="a", now=t0)
    _close_all(store, opened)  # acknowledged? no: closed at once, before any send
    assert [row.kind for row in page_rows(store)] == ["trigger", "resolve"]
    deliveries = dispatch_pages(store, config.pagerduty)
    assert {d.status for d in deliveries} == {"superseded"}
    assert pagerduty.events == [] and page_backlog(store) == 0


def test_a_groups_events_leave_in_order_behind_a_failing_trigger(store, pagerduty):
    config, t0, opened = _world(store, pagerduty.url)
    fire_due(store, config, identity="a", now=t0)
    t0 = utcnow()
    pagerduty.fail_next(500)
    (failed,) = dispatch_pages(store, config.pagerduty, now=t0)  # the trigger waits 2 s
    assert failed.status == "pending"
    _close_all(store, opened, IncidentStatus.acknowledged)
    # The acknowledgement is due now, but waits behind its trigger.
    assert dispatch_pages(store, config.pagerduty, now=t0 + timedelta(seconds=1)) == []
    _close_all(store, opened, IncidentStatus.resolved)
    dispatch_pages(store, config.pagerduty, now=t0 + timedelta(seconds=3))
    actions = [request["event"]["event_action"] for request in pagerduty.events]
    assert actions == ["trigger", "trigger", "acknowledge", "resolve"]  # the first one failed
    (alert,) = pagerduty.alerts
    assert alert.status == "resolved"


def _page(store, config) -> None:
    fire_due(store, config, identity="a", now=utcnow())
    dispatch_pages(store, config.pagerduty)


def test_two_groups_of_one_recurring_problem_have_their_own_alerts(store, pagerduty):
    """The null spike resolves while its group stays open (a drift is still open), then
    comes back in a new group: its page is a new alert, and the first group's end does not
    resolve it."""
    config, t0, (nulls, drift) = _world(store, pagerduty.url)
    _page(store, config)
    _close_all(store, [nulls], IncidentStatus.resolved)
    assert len(scan(store, config, [NULLS], t0 + timedelta(hours=1), monitor="quality").opened) == 1
    _page(store, config)
    assert len(pagerduty.alerts) == 2  # a second page, not a line in the first's log
    _close_all(store, [drift])  # the first group ends
    _page(store, config)
    first, second = pagerduty.alerts
    assert (first.status, second.status) == ("resolved", "triggered")


def test_a_reopened_group_pages_again_and_resolves_every_alert(store, pagerduty):
    """Paged and acknowledged; a new unacknowledged member reopens the group, which pages
    anew (a new alert: the acknowledged one would swallow the trigger); everything then
    closes: both alerts are resolved."""
    config, t0, opened = _world(store, pagerduty.url)
    _page(store, config)
    _close_all(store, opened, IncidentStatus.acknowledged)
    dispatch_pages(store, config.pagerduty)
    ages = Finding("out_of_range", "age", "max", 300, 120, True)
    later = scan(store, config, [ages], t0, monitor="m2").opened
    _page(store, config)  # the reopened group's step 0
    first, second = pagerduty.alerts
    assert (first.status, second.status) == ("acknowledged", "triggered")
    assert second.dedup_key == first.dedup_key + ".1"
    _close_all(store, [*opened, *later])
    dispatch_pages(store, config.pagerduty)
    assert [alert.status for alert in pagerduty.alerts] == ["resolved", "resolved"]


def test_a_reopened_group_closed_before_its_second_page_left_still_resolves(store, pagerduty):
    """The second trigger was queued but never sent when everything closed: it is moot, the
    resolve of the first alert is not."""
    config, t0, opened = _world(store, pagerduty.url)
    _page(store, config)
    _close_all(store, opened, IncidentStatus.acknowledged)
    dispatch_pages(store, config.pagerduty)
    ages = Finding("out_of_range", "age", "max", 300, 120, True)
    later = scan(store, config, [ages], t0, monitor="m2").opened
    fire_due(store, config, identity="a", now=utcnow())  # queued, not sent
    _close_all(store, [*opened, *later])
    dispatch_pages(store, config.pagerduty)
    (alert,) = pagerduty.alerts
    assert alert.status == "resolved"
    assert ("resolve", "sent") in [(row.kind, row.status) for row in page_rows(store)]
