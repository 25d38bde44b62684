"""PagerDuty Events API v2 events, as plain JSON (pure).

An event is `{"event_action": trigger | acknowledge | resolve, "dedup_key": ..., ...}`; a
trigger also carries `payload` (`summary` at most 1,024 characters, `source`, `severity`
one of critical, error, warning, info; `timestamp`, `component`, `group`, `class`,
`custom_details`), `links`, `client` and `client_url`. The routing key is *not* part of a
built event: the sender adds it from the environment, so it never reaches the store.

PagerDuty de-duplicates by `dedup_key` (at most 255 characters): a second trigger of an
open alert only adds to its log, which makes a resent event harmless; an acknowledge or a
resolve applies to the alert with that key.

>>> event = trigger_event(dedup_key="f" * 64, summary="null_spike on loans (salary)",
...                       source="warden/loans", severity="critical")
>>> event["event_action"], event["payload"]["severity"], len(event["dedup_key"])
('trigger', 'critical', 64)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: PagerDuty's limits (Events API v2 reference).
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
SEVERITIES = ("critical", "error", "warning", "info")
#: Warden's incident severities as PagerDuty's (Warden has no `error`).
SEVERITY_OF = {"critical": "critical", "warning": "warning", "info": "info"}
CLIENT = "Warden"


def _dedup(key: str) -> str:
    if not key or len(key) > MAX_DEDUP_KEY:
        raise ValueError(f"a dedup_key has 1 to {MAX_DEDUP_KEY} characters; got {len(key)}")
    return key


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trigger_event(
    *,
    dedup_key: str,
    summary: str,
    source: str,
    severity: str,
    timestamp: str | None = None,
    component: str | None = None,
    group: str | None = None,
    event_class: str | None = None,
    custom_details: Mapping[str, Any] | None = None,
    links: Sequence[tuple[str, str]] = (),
    client_url: str | None = None,
) -> dict[str, Any]:
    """A trigger event (`severity` is Warden's or PagerDuty's; `links` are (href, text))."""
    mapped = SEVERITY_OF.get(severity, severity)
    if mapped not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    payload: dict[str, Any] = {
        "summary": _clip(summary or "Warden incident", MAX_SUMMARY),
        "source": _clip(source, 255),
        "severity": mapped,
    }
    optional = {
        "timestamp": timestamp,
        "component": component,
        "group": group,
        "class": event_class,
    }
    payload.update({key: value for key, value in optional.items() if value})
    if custom_details:
        payload["custom_details"] = dict(custom_details)
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": _dedup(dedup_key),
        "payload": payload,
        "client": CLIENT,
    }
    if client_url:
        event["client_url"] = client_url
    if links:
        event["links"] = [{"href": href, "text": text} for href, text in links]
    return event


def follow_up_event(action: str, dedup_key: str) -> dict[str, Any]:
    """An `acknowledge` or `resolve` event of the alert `dedup_key`."""
    if action not in ("acknowledge", "resolve"):
        raise ValueError(f"a follow-up event acknowledges or resolves, not {action!r}")
    return {"event_action": action, "dedup_key": _dedup(dedup_key)}


def with_routing_key(event: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """The event as sent: with the integration's routing key (from the environment)."""
    if not routing_key:
        raise ValueError("no PagerDuty routing key")
    return {"routing_key": routing_key, **event}
