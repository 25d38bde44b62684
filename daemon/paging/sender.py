"""Send one PagerDuty event and say what the outbox should do next (`SendOutcome`).

PagerDuty's answers (Events API v2): 202 `{"status": "success", "dedup_key": ...}` means
taken; 400 "invalid event" (a malformed event or an unknown routing key) is final; 429
means the event was *not* taken: retry later ("preferably with a backoff of a few
minutes"; a `Retry-After` header is honoured when present); 5xx and no answer: retry with
backoff. 401, 403, 404 and 413 are not documented for this endpoint but come from proxies
and wrong URLs: final, with the body kept for the person reading it.

Plain `httpx`, one request, no retry inside: the official client sleeps through 429s in
the calling thread, which would outlive the outbox row's lease.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.retry_after import retry_after_seconds

#: Seconds one request may take; far below the outbox lease, so an old request cannot land
#: after a newer event of the same alert was sent.
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SendOutcome:
    """`sent`, `retry` (after `retry_after` seconds when PagerDuty said, else the backoff's
    choice) or `refused` (final); `detail` says why for people; `dedup_key` is PagerDuty's."""

    status: str
    detail: str
    retry_after: float | None = None
    dedup_key: str | None = None
    http_status: int | None = None


def send_event(
    url: str, event: Mapping[str, Any], *, timeout: float = TIMEOUT_SECONDS
) -> SendOutcome:
    """POST `event` (with its routing key) to the Events API at `url`."""
    import httpx

    try:
        response = httpx.post(url, json=dict(event), timeout=timeout)
    except httpx.HTTPError as error:
        return SendOutcome("retry", f"PagerDuty could not be reached: {error}")
    body = _json(response)
    message = _message(body, response.text)
    if response.status_code == 202:
        return SendOutcome(
            "sent", message or "accepted", dedup_key=body.get("dedup_key"), http_status=202
        )
    if response.status_code == 429:
        return SendOutcome(
            "retry",
            f"PagerDuty rate-limited the event (429): {message}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            http_status=429,
        )
    if response.status_code >= 500:
        return SendOutcome(
            "retry",
            f"PagerDuty answered {response.status_code}: {message}",
            http_status=response.status_code,
        )
    return SendOutcome(
        "refused",
        f"PagerDuty refused the event ({response.status_code}): {message}",
        http_status=response.status_code,
    )


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(body: Mapping[str, Any], text: str) -> str:
    parts = [str(body.get("message") or "")]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts.append("; ".join(str(error) for error in errors[:5]))
    joined = " - ".join(part for part in parts if part)
    return joined or text[:300]
