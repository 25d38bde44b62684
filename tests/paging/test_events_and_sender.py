"""PagerDuty events built by Warden, sent over real HTTP to a fake of the Events API v2:
accepted, deduplicated, acknowledged and resolved in order; refused keys and malformed
events are final; 429 and 5xx say when to retry."""

from __future__ import annotations

import pytest

from daemon.paging.events import (
    MAX_SUMMARY,
    follow_up_event,
    trigger_event,
    with_routing_key,
)
from daemon.paging.sender import send_event
from tests.paging.fake_pagerduty import ROUTING_KEY, FakePagerDuty

FINGERPRINT = "a" * 64


def _trigger(**changes: object) -> dict:
    return trigger_event(
        dedup_key=changes.pop("dedup_key", FINGERPRINT),  # type: ignore[arg-type]
        summary=changes.pop("summary", "[critical] null_spike on loans (salary)"),  # type: ignore[arg-type]
        source="warden/loans",
        severity=changes.pop("severity", "critical"),  # type: ignore[arg-type]
        component="loans-quality",
        group="loans",
        event_class="null_spike",
        custom_details={"incident": 12, "findings": ["salary: 0.31 vs 0.05"]},
        links=[("https://warden.example.com/reports/12", "Incident report")],
        client_url="https://warden.example.com",
    )


def test_trigger_ack_resolve_follow_pagerdutys_lifecycle():
    with FakePagerDuty() as pagerduty:
        first = send_event(pagerduty.url, with_routing_key(_trigger(), ROUTING_KEY))
        again = send_event(pagerduty.url, with_routing_key(_trigger(), ROUTING_KEY))
        assert (first.status, first.dedup_key, first.http_status) == ("sent", FINGERPRINT, 202)
        assert again.status == "sent"
        (alert,) = pagerduty.alerts
        assert alert.log == ["trigger", "trigger (deduplicated)"]  # a resend is harmless
        assert alert.severity == "critical"
        for action in ("acknowledge", "resolve"):
            done = send_event(
                pagerduty.url, with_routing_key(follow_up_event(action, FINGERPRINT), ROUTING_KEY)
            )
            assert done.status == "sent"
        assert alert.status == "resolved" and pagerduty.open_alerts() == []
        sent = pagerduty.events[0]["event"]
        assert sent["client"] == "Warden" and sent["links"][0]["text"] == "Incident report"
        assert sent["payload"]["custom_details"]["incident"] == 12


def test_a_refused_key_and_a_malformed_event_are_final_with_pagerdutys_words():
    with FakePagerDuty() as pagerduty:
        unknown = send_event(pagerduty.url, with_routing_key(_trigger(), "X" * 32))
        short = send_event(pagerduty.url, with_routing_key(_trigger(), "short"))
    assert unknown.status == "refused" and "Invalid routing key" in unknown.detail
    assert short.status == "refused" and unknown.http_status == 400
    assert "Length of 'routing_key' is incorrect" in short.detail


def test_a_proxy_refusing_the_request_is_final_too():
    """401 and 403 are not PagerDuty's (the key is in the body) but a proxy's or a wrong
    URL's: retrying would change nothing, so they fail at once with what was answered."""
    with FakePagerDuty() as pagerduty:
        for status in (401, 403):
            pagerduty.fail_next(status)
            refused = send_event(pagerduty.url, with_routing_key(_trigger(), ROUTING_KEY))
            assert (refused.status, refused.http_status) == ("refused", status)
            assert f"PagerDuty refused the event ({status})" in refused.detail
        wrong_path = send_event(pagerduty.url + "x", with_routing_key(_trigger(), ROUTING_KEY))
    assert wrong_path.status == "refused" and wrong_path.http_status == 404


def test_rate_limits_and_server_errors_are_retried_later():
    with FakePagerDuty() as pagerduty:
        pagerduty.fail_next(429, retry_after=30)
        limited = send_event(pagerduty.url, with_routing_key(_trigger(), ROUTING_KEY))
        pagerduty.fail_next(502)
        broken = send_event(pagerduty.url, with_routing_key(_trigger(), ROUTING_KEY))
        assert pagerduty.alerts == []  # neither was taken
        url = pagerduty.url
    down = send_event(url, with_routing_key(_trigger(), ROUTING_KEY), timeout=2)
    assert (limited.status, limited.retry_after, limited.http_status) == ("retry", 30.0, 429)
    assert broken.status == "retry" and broken.http_status == 502
    assert down.status == "retry" and "could not be reached" in down.detail


def test_events_respect_pagerdutys_limits():
    long = _trigger(summary="x" * 5000, severity="warning")
    assert len(long["payload"]["summary"]) == MAX_SUMMARY
    assert long["payload"]["severity"] == "warning"
    assert "routing_key" not in long  # added at send time, from the environment
    with pytest.raises(ValueError, match="1 to 255"):
        _trigger(dedup_key="k" * 256)
    with pytest.raises(ValueError, match="severity 'fatal'"):
        _trigger(severity="fatal")
    with pytest.raises(ValueError, match="acknowledges or resolves"):
        follow_up_event("trigger", FINGERPRINT)
    with pytest.raises(ValueError, match="no PagerDuty routing key"):
        with_routing_key(long, "")
