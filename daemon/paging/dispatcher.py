"""Sending the outbox's PagerDuty events: in order per group, with retries, never lost.

`dispatch_pages` claims due `transport="pagerduty"` rows one at a time and sends each:

- **Order**: a group's events leave in id order (a row waits while an earlier row of its
  group is unsent), so an alert is triggered, acknowledged and resolved in that order: a
  trigger landing after its resolve would open a new alert.
- **Claim**: the row is marked `sending` with a lease (`LEASE`, far above the request's
  timeout) in a short transaction; the request runs outside any transaction; the outcome
  is recorded only while the claim holds.
- **Crashes**: killed before the request, the row is still due and is sent when its lease
  ends; killed after PagerDuty took the event but before it was recorded, the event is
  sent again, and PagerDuty's de-duplication by `dedup_key` makes a repeated trigger a log
  entry and a repeated acknowledge or resolve a no-op: nothing is lost, no alert doubles.
- **Retries**: 429 (the event was not taken) waits `Retry-After`, else 30 s doubling to
  5 min, without counting an attempt, as PagerDuty advises; 5xx or no answer backs off 2,
  4, 8... s to 5 min; a day of transient errors gives up (`failed`, audit `page.failed`).
- **Coalescing**: a trigger never attempted whose alert's resolve is already queued is
  not sent (`superseded`, with that resolve and the acknowledgements between): nobody is
  paged for something already over.
- **Refusals** (400: an invalid event or routing key; 401/403/404/413 from proxies and
  wrong URLs) are final: `failed` with PagerDuty's words, and audit `page.refused`, which
  the Slack writer replies in the group's thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import aliased
from sqlmodel import col, select

from daemon.config.oncall import PagerDutyConfig
from daemon.crash_points import stop_if_asked
from daemon.paging.events import with_routing_key
from daemon.paging.sender import SendOutcome, send_event
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import OutboxMessage, OutboxStatus
from daemon.store.types import utcnow

log = logging.getLogger(__name__)

TRANSPORT = "pagerduty"
#: How long a claimed row is reserved for its sender (the request times out far sooner).
LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
#: The first wait after a 429 without `Retry-After` ("a backoff of a few minutes" is
#: PagerDuty's advice; 30 s doubling reaches it on the third try).
RATE_LIMIT_WAIT = timedelta(seconds=30)
GIVE_UP_AFTER = timedelta(hours=24)
UNFINISHED = (OutboxStatus.pending, OutboxStatus.sending)


@dataclass(frozen=True)
class PageDelivery:
    message_id: int
    status: str
    detail: str = ""


def dispatch_pages(
    store: Store, settings: PagerDutyConfig, *, now: datetime | None = None, limit: int = 50
) -> list[PageDelivery]:
    """Send up to `limit` due PagerDuty events; each outcome recorded."""
    deliveries = _coalesce(store)
    for _ in range(limit):
        moment = now or utcnow()
        claimed = _claim(store, moment, {d.message_id for d in deliveries})
        if claimed is None:
            break
        stop_if_asked("page.claimed")
        row, rate_limited_before = claimed
        event = with_routing_key(row.payload, settings.routing_key.get_secret_value())
        outcome = send_event(settings.events_url, event, timeout=settings.timeout.total_seconds())
        stop_if_asked("page.sent")
        deliveries.append(_record(store, row, outcome, moment, rate_limited_before))
    return deliveries


def _coalesce(store: Store) -> list[PageDelivery]:
    """A trigger never attempted whose alert's resolve is already queued pages nobody for
    something already over: the trigger, that resolve and the acknowledgements of the same
    alert between them are `superseded` instead of sent. Matched by the alert's dedup key,
    so a reopened group's first alert still gets its resolve."""
    superseded: list[PageDelivery] = []
    with store.session() as session:
        pending = session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.transport == TRANSPORT,
                OutboxMessage.status == OutboxStatus.pending,
            )
            .order_by(col(OutboxMessage.id))
            .with_for_update(skip_locked=True)
        ).all()
        for trigger in pending:
            if trigger.kind != "trigger" or trigger.attempts or trigger.status != "pending":
                continue
            key = trigger.payload.get("dedup_key")
            same = [
                row
                for row in pending
                if row.group_id == trigger.group_id
                and (row.id or 0) > (trigger.id or 0)
                and row.payload.get("dedup_key") == key
            ]
            resolve = next((row for row in same if row.kind == "resolve"), None)
            if resolve is None:
                continue
            for row in [trigger, *(r for r in same if (r.id or 0) <= (resolve.id or 0))]:
                row.status = OutboxStatus.superseded
                row.last_error = "the alert was over before its trigger was sent"
                session.add(row)
                superseded.append(PageDelivery(row.id or 0, OutboxStatus.superseded))
    return superseded


def page_backlog(store: Store) -> int:
    """PagerDuty events not yet sent."""
    with store.session(readonly=True) as session:
        return len(
            session.exec(
                select(OutboxMessage.id).where(
                    OutboxMessage.transport == TRANSPORT,
                    col(OutboxMessage.status).in_(UNFINISHED),
                )
            ).all()
        )


def _claim(store: Store, now: datetime, skip: set[int]) -> tuple[OutboxMessage, int] | None:
    earlier = aliased(OutboxMessage)
    blocked = (
        select(earlier.id)
        .where(
            earlier.transport == TRANSPORT,
            earlier.group_id == OutboxMessage.group_id,
            col(earlier.id) < col(OutboxMessage.id),
            col(earlier.status).in_(UNFINISHED),
        )
        .exists()
    )
    with store.session() as session:
        row = session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.transport == TRANSPORT,
                col(OutboxMessage.status).in_(UNFINISHED),
                OutboxMessage.next_attempt_at <= now,
                col(OutboxMessage.id).not_in(skip or {0}),
                ~blocked,
            )
            .order_by(col(OutboxMessage.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        rate_limited = _rate_limits(row.last_error)
        if row.status == OutboxStatus.sending:
            row.last_error = "its sender stopped reporting; sent again (PagerDuty de-duplicates)"
        row.status = OutboxStatus.sending
        row.attempts += 1
        row.next_attempt_at = now + LEASE
        session.add(row)
        session.flush()
        session.expunge(row)
        return row, rate_limited


def _record(
    store: Store, row: OutboxMessage, outcome: SendOutcome, now: datetime, rate_limited: int
) -> PageDelivery:
    given_up = outcome.status == "retry" and now - row.created_at >= GIVE_UP_AFTER
    with store.session() as session:
        current = session.exec(
            select(OutboxMessage).where(OutboxMessage.id == row.id).with_for_update()
        ).one()
        if current.status != OutboxStatus.sending or current.attempts != row.attempts:
            return PageDelivery(row.id or 0, OutboxStatus.sending, "taken over by another sender")
        if outcome.status == "sent":
            current.status = OutboxStatus.sent
            current.sent_at = utcnow()
            current.external_id = outcome.dedup_key
            current.last_error = None
        elif outcome.status == "refused" or given_up:
            current.status = OutboxStatus.failed
            current.last_error = outcome.detail[:1000]
            append_audit(
                session,
                actor="pagerduty",
                # failed: a day of transient errors; refused: PagerDuty said no (final).
                action=f"page.{'failed' if given_up else 'refused'}",
                entity_type="incident_group",
                entity_id=str(row.group_id),
                payload={"event": row.kind, "detail": outcome.detail[:1000], "message": row.id},
            )
        else:
            current.status = OutboxStatus.pending
            if outcome.http_status == 429:
                # Not taken, not a failure of ours: the attempt is not counted.
                current.attempts -= 1
                wait = (
                    timedelta(seconds=outcome.retry_after)
                    if outcome.retry_after is not None
                    else min(MAX_BACKOFF, RATE_LIMIT_WAIT * 2**rate_limited)
                )
                current.last_error = f"rate limited ({rate_limited + 1}): {outcome.detail}"
            else:
                wait = min(MAX_BACKOFF, timedelta(seconds=2 ** min(current.attempts, 20)))
                current.last_error = outcome.detail[:1000]
            current.next_attempt_at = now + wait
        session.add(current)
        status = current.status
    if status == OutboxStatus.failed:
        log.error("PagerDuty %s of group %s failed: %s", row.kind, row.group_id, outcome.detail)
    return PageDelivery(row.id or 0, status, outcome.detail)


def _rate_limits(last_error: str | None) -> int:
    """How many 429s in a row the row has had (kept in its last error's text)."""
    if not last_error or not last_error.startswith("rate limited ("):
        return 0
    try:
        return int(last_error.split("(", 1)[1].split(")", 1)[0])
    except ValueError:
        return 0
