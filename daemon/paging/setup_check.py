"""`warden pagerduty test`: does PagerDuty take events with this routing key?

By default a *change event* (Events API v2, `/v2/change/enqueue`, on the same integration
key): PagerDuty shows it on the service's timeline and pages nobody, so the key and the
URL are proven without waking anyone. With `trigger=True`, a real `info` alert is
triggered and resolved at once: it proves the whole path to the on-call person's phone,
and may notify them (by the service's urgency rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.config.oncall import PagerDutyConfig
from daemon.paging.events import follow_up_event, trigger_event, with_routing_key
from daemon.paging.sender import SendOutcome, send_event
from daemon.store.types import utcnow

ALERTS_PATH = "/v2/enqueue"
CHANGES_PATH = "/v2/change/enqueue"


@dataclass(frozen=True)
class PageCheck:
    """One request of the test and what PagerDuty answered (`ok`: it took it)."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def change_events_url(events_url: str) -> str | None:
    """The change-events URL beside an alert-events URL, or None when it does not end as
    PagerDuty's does (a proxy of another shape).

    >>> change_events_url("https://events.eu.pagerduty.com/v2/enqueue")
    'https://events.eu.pagerduty.com/v2/change/enqueue'
    """
    if not events_url.rstrip("/").endswith(ALERTS_PATH):
        return None
    return events_url.rstrip("/")[: -len(ALERTS_PATH)] + CHANGES_PATH


def run_page_checks(
    settings: PagerDutyConfig, *, trigger: bool, now: datetime | None = None
) -> list[PageCheck]:
    """The test's requests, in order; stops at the first PagerDuty did not take."""
    moment = now or utcnow()
    key = settings.routing_key.get_secret_value()
    timeout = settings.timeout.total_seconds()
    if not trigger:
        url = change_events_url(settings.events_url)
        if url is None:
            return [
                PageCheck(
                    "change event",
                    False,
                    f"{settings.events_url} does not end in {ALERTS_PATH}, so the change-events "
                    "URL cannot be derived: test with --trigger instead",
                )
            ]
        change = {
            "routing_key": key,
            "payload": {
                "summary": "Warden's setup test: this routing key works (nobody was paged)",
                "source": "warden",
                "timestamp": moment.isoformat(),
            },
        }
        return [_check("change event", send_event(url, change, timeout=timeout))]
    dedup_key = f"warden-test-{moment.strftime('%Y%m%dT%H%M%S')}"
    event = trigger_event(
        dedup_key=dedup_key,
        summary="Warden's setup test: nothing is wrong; resolved at once",
        source="warden",
        severity="info",
        timestamp=moment.isoformat(),
    )
    checks = [_check("trigger", _send(settings, event, key, timeout))]
    if checks[0].ok:
        resolve = follow_up_event("resolve", dedup_key)
        checks.append(_check("resolve", _send(settings, resolve, key, timeout)))
    return checks


def _send(
    settings: PagerDutyConfig, event: dict[str, object], key: str, timeout: float
) -> SendOutcome:
    return send_event(settings.events_url, with_routing_key(event, key), timeout=timeout)


def _check(name: str, outcome: SendOutcome) -> PageCheck:
    return PageCheck(name, outcome.status == "sent", outcome.detail)
