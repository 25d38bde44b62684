"""Sending the outbox to Slack: in order per incident, with retries, exactly once.

`dispatch_once` claims due rows, sends each and records the outcome:

- **Order**: an incident's rows go out in id order; a row waits while an earlier row of its
  incident is unsent, so replies land in its thread in the order things happened, and updates
  and replies find the `ts` of the incident's message.
- **Claim**: one row at a time is marked `sending` (with a lease of `LEASE`) in a short
  transaction before the HTTP call, which runs outside any transaction: the store is never
  locked while Slack answers, and replicas never send the same row (PostgreSQL claims with
  `SKIP LOCKED`). The outcome is recorded only while the claim still holds (same attempt).
- **Exactly once**: posts and replies carry their dedupe key in the message `metadata`. A row
  found `sending` again (the process died mid-call) or whose last attempt ended without an
  answer is first looked up in the channel (`conversations.history` / `.replies`); if Slack
  has it, its `ts` is recorded and nothing is posted again. Updates are idempotent anyway.
- **Retries**: `429` waits for `Retry-After`; a server error or no answer backs off
  exponentially (2, 4, 8... seconds, at most `MAX_BACKOFF`); an error Slack will give again
  (`channel_not_found`, `invalid_auth`...) marks the row `failed` with the reason, as does
  a day of transient errors (`GIVE_UP_AFTER`). Replies and updates of a message that failed
  fail too; the incident's next event posts its message anew.
- **Coalescing**: an update with a newer pending update of the same message is `superseded`;
  only the newest state is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import and_, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from daemon.retry_after import retry_after_seconds
from daemon.slack.group_outbox import group_of_notify
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import OutboxMessage, OutboxStatus
from daemon.store.types import utcnow
from detectors.work_labels import doing

log = logging.getLogger(__name__)

#: How long a claimed row is reserved for its sender before another may take it over.
LEASE = timedelta(seconds=60)
#: Longest wait between two attempts after failures (not for 429, which Slack sets).
MAX_BACKOFF = timedelta(minutes=5)
#: How long a message is retried through transient errors (Slack down, 5xx, no answer)
#: before it is given up as `failed`: an outage of hours still delivers everything after.
GIVE_UP_AFTER = timedelta(hours=24)
#: Errors Slack will answer again however often we retry.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "no_permission",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "user_not_in_channel",
        "cant_update_message",
        "message_not_found",
        "edit_window_closed",
    }
)
#: The outbox rows this dispatcher sends (PagerDuty's have their own, `daemon.paging`).
TRANSPORT = "slack"
#: Metadata event type carrying a message's dedupe key.
METADATA_EVENT = "warden_message"
DONE = (OutboxStatus.sent, OutboxStatus.failed, OutboxStatus.superseded)


@dataclass(frozen=True)
class Delivery:
    """What happened to one row in a dispatch pass."""

    message_id: int
    status: str
    detail: str = ""


def dispatch_once(
    store: Store, client: WebClient, *, limit: int = 50, now: datetime | None = None
) -> list[Delivery]:
    """Send up to `limit` due rows, one claim at a time, and record each outcome.

    One row is claimed per send, so a lease never runs out while its row waits behind
    others in a batch (a slow Slack would otherwise let a replica take over a row that is
    about to be sent)."""
    deliveries: list[Delivery] = []
    for _ in range(limit):
        # A row retried in this pass waits for the next one, whatever its new due time.
        message_id = _claim(store, now or utcnow(), {d.message_id for d in deliveries})
        if message_id is None:
            break
        deliveries.append(_deliver(store, client, message_id))
    return deliveries


def backlog(store: Store) -> int:
    """Rows not yet sent (pending or in flight)."""
    with store.session(readonly=True) as session:
        return len(
            session.exec(
                select(OutboxMessage.id).where(
                    OutboxMessage.transport == TRANSPORT,
                    col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]),
                )
            ).all()
        )


def _claim(store: Store, now: datetime, skip: set[int]) -> int | None:
    """Mark the oldest due row that nothing of its incident waits before `sending`."""
    earlier = aliased(OutboxMessage)
    blocked = (
        select(earlier.id)
        .where(
            earlier.transport == TRANSPORT,
            # Same incident, or same group: a group's cards never leave before its parent.
            or_(
                col(earlier.incident_id) == col(OutboxMessage.incident_id),
                col(earlier.group_id) == col(OutboxMessage.group_id),
            ),
            col(earlier.id) < col(OutboxMessage.id),
            earlier.kind != "ephemeral",
            col(earlier.status).not_in([status.value for status in DONE]),
        )
        .exists()
    )
    with store.session() as session:
        row = session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.transport == TRANSPORT,
                col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]),
                OutboxMessage.next_attempt_at <= now,
                col(OutboxMessage.id).not_in(skip or {0}),
                or_(
                    and_(
                        col(OutboxMessage.incident_id).is_(None),
                        col(OutboxMessage.group_id).is_(None),
                    ),
                    col(OutboxMessage.kind) == "ephemeral",
                    ~blocked,
                ),
            )
            .order_by(col(OutboxMessage.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        if row.status == OutboxStatus.sending:
            row.last_error = "its sender stopped reporting; looked up before sending again"
        row.status = OutboxStatus.sending
        row.attempts += 1  # counted when it starts: a crash mid-call still counts
        row.next_attempt_at = now + LEASE
        session.add(row)
        return row.id


def _deliver(store: Store, client: WebClient, message_id: int) -> Delivery:
    with store.session(readonly=True) as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        root = _root(session, row)
        newer_update = row.kind == "update" and _has_newer_update(session, row)
    if newer_update:
        return _record(store, row, OutboxStatus.superseded, detail="a newer update follows")
    # A reply or update whose incident message failed for good can never be delivered.
    if row.kind in ("update", "reply", "card") and (root is None or root.external_id is None):
        return _record(
            store, row, OutboxStatus.failed, detail="the incident's message was never posted"
        )
    try:
        ts, channel = _send(client, row, root)
    except SlackApiError as error:
        return _after_error(store, row, error)
    except Exception as error:  # noqa: BLE001 -- no answer (timeout, refused connection): retry
        return _retry(store, row, f"{type(error).__name__}: {error}", _backoff(row.attempts))
    return _record(store, row, OutboxStatus.sent, external_id=ts, channel=channel)


@doing("outbox")  # the CPU profile's kind of work (detectors.work_labels)
def _send(
    client: WebClient, row: OutboxMessage, root: OutboxMessage | None
) -> tuple[str | None, str | None]:
    message: dict[str, Any] = row.payload
    metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": row.dedupe_key}}
    if row.kind == "ephemeral":
        response = client.chat_postEphemeral(
            channel=row.channel,
            user=message["user"],
            text=message.get("text", ""),
            blocks=message.get("blocks"),
        )
        return response.get("message_ts"), None
    if row.kind == "update":
        assert root is not None
        client.chat_update(
            channel=root.channel,
            ts=root.external_id or "",
            text=message.get("text", ""),
            blocks=message.get("blocks"),
        )
        return None, None
    threaded = row.kind in ("reply", "card") and root is not None
    thread_ts = root.external_id if threaded and root is not None else None
    channel = root.channel if threaded and root is not None else row.channel
    if row.attempts > 1:  # an earlier attempt may have reached Slack
        found = _find_sent(client, channel, thread_ts, row)
        if found is not None:
            log.info("outbox %s was delivered before the last attempt ended", row.dedupe_key)
            return found, channel
    response = client.chat_postMessage(
        channel=channel,
        thread_ts=thread_ts,
        text=message.get("text", ""),
        blocks=message.get("blocks"),
        metadata=metadata,
        unfurl_links=False,
    )
    return response.get("ts"), response.get("channel")


def _find_sent(
    client: WebClient, channel: str, thread_ts: str | None, row: OutboxMessage
) -> str | None:
    """The ts of the message carrying the row's key in its metadata, if Slack has it.

    Needs the channel's id (C...), as Slack's history methods do; with a channel name, or
    when the lookup itself fails (a missing scope, the bot not in the channel), the lookup
    is skipped with a warning and the message is posted again."""
    key = row.dedupe_key
    if not channel.startswith(("C", "G", "D")):
        log.warning("cannot look up %s in %s (a name, not an id); posting again", key, channel)
        return None
    oldest = f"{(row.created_at - timedelta(minutes=1)).timestamp():.6f}"
    try:
        if thread_ts is not None:
            response = client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=1000
            )
        else:
            response = client.conversations_history(
                channel=channel, include_all_metadata=True, oldest=oldest, limit=1000
            )
    except (SlackApiError, OSError) as error:
        log.warning("could not look up %s in %s (%s); posting again", key, channel, error)
        return None
    for message in response.get("messages") or []:
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("key") == key:
            return str(message.get("ts"))
    return None


def _after_error(store: Store, row: OutboxMessage, error: SlackApiError) -> Delivery:
    response = error.response
    status = getattr(response, "status_code", None)
    code = (response.get("error") if response is not None else None) or "unknown_error"
    if status == 429:
        retry_after = _retry_after(response)
        # A rate limit is Slack asking to wait, not a failure: attempts are not counted.
        return _retry(
            store,
            row,
            f"ratelimited: retry after {retry_after}s",
            timedelta(seconds=retry_after),
            count=False,
        )
    if code in PERMANENT_ERRORS:
        return _record(store, row, OutboxStatus.failed, detail=f"Slack refused it: {code}")
    return _retry(store, row, f"Slack error {status}: {code}", _backoff(row.attempts))


def _retry_after(response: Any) -> int:
    """Slack's `Retry-After` in whole seconds (30 when it sent none)."""
    headers = getattr(response, "headers", None) or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    seconds = retry_after_seconds(value if isinstance(value, str) else None)
    return 30 if seconds is None else int(seconds)


def _backoff(attempt: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempt, 20)))


def _retry(
    store: Store, row: OutboxMessage, detail: str, wait: timedelta, *, count: bool = True
) -> Delivery:
    attempts = row.attempts if count else row.attempts - 1
    if utcnow() - row.created_at >= GIVE_UP_AFTER:
        return _record(store, row, OutboxStatus.failed, detail=f"gave up after a day: {detail}")
    log.warning("outbox %s: %s; retrying in %ss", row.dedupe_key, detail, wait.total_seconds())
    with store.session() as session:
        current = _still_ours(session, row)
        if current is None:
            return Delivery(row.id or 0, OutboxStatus.sending, "taken over by another sender")
        current.status = OutboxStatus.pending
        current.attempts = attempts
        current.last_error = detail
        current.next_attempt_at = utcnow() + wait
        session.add(current)
    return Delivery(row.id or 0, OutboxStatus.pending, detail)


def _record(
    store: Store,
    row: OutboxMessage,
    status: OutboxStatus,
    *,
    detail: str = "",
    external_id: str | None = None,
    channel: str | None = None,
) -> Delivery:
    with store.session() as session:
        current = _still_ours(session, row)
        if current is None:
            return Delivery(row.id or 0, OutboxStatus.sending, "taken over by another sender")
        current.status = status
        if status == OutboxStatus.sent:
            current.sent_at = utcnow()
            current.external_id = external_id
            if channel:
                current.channel = channel  # the id Slack answered with, for updates
        else:
            current.last_error = detail or None
        session.add(current)
        group_id = group_of_notify(row.dedupe_key)
        if status == OutboxStatus.failed and group_id is not None:
            # An escalation step's post that can never be delivered (an unknown channel, the
            # bot not in it): recorded, and said in the group's own thread.
            append_audit(
                session,
                actor="slack",
                action="escalation.notify_failed",
                entity_type="incident_group",
                entity_id=str(group_id),
                payload={"channel": row.channel, "detail": detail, "message": row.id},
            )
    if status == OutboxStatus.failed:
        log.error("outbox %s failed: %s", row.dedupe_key, detail)
    return Delivery(row.id or 0, status, detail)


def _still_ours(session: Session, row: OutboxMessage) -> OutboxMessage | None:
    """The row, locked, if this sender's claim still holds (same attempt, still sending);
    None when its lease ran out and another sender took it over."""
    current = session.exec(
        select(OutboxMessage).where(OutboxMessage.id == row.id).with_for_update()
    ).one()
    if current.status != OutboxStatus.sending or current.attempts != row.attempts:
        log.warning("outbox %s was taken over by another sender", row.dedupe_key)
        return None
    return current


def _root(session: Session, row: OutboxMessage) -> OutboxMessage | None:
    """The message this row updates or threads on: for a group's cards and replies, and a
    group's own updates, the group's parent message; for an incident's update (or an
    ungrouped incident's reply), the incident's newest message (its post, or its card in
    the group's thread). Always the newest before the row that did not fail (a message
    that failed for good is replaced by a new one)."""
    if row.kind in ("post", "ephemeral"):
        return None
    query = select(OutboxMessage).where(
        OutboxMessage.transport == TRANSPORT,
        col(OutboxMessage.id) < (row.id or 0),
        OutboxMessage.status != OutboxStatus.failed,
    )
    if row.group_id is not None and (row.kind in ("card", "reply") or row.incident_id is None):
        query = query.where(OutboxMessage.group_id == row.group_id, OutboxMessage.kind == "post")
    elif row.incident_id is not None:
        # Once the incident has a card in its group's thread, its message is the card (even
        # when the card failed): its post is the group's parent now, not its own to redraw.
        kinds = ["card"] if _has_card(session, row) else ["post", "card"]
        query = query.where(
            OutboxMessage.incident_id == row.incident_id, col(OutboxMessage.kind).in_(kinds)
        )
    else:
        return None
    return session.exec(query.order_by(col(OutboxMessage.id).desc())).first()


def _has_card(session: Session, row: OutboxMessage) -> bool:
    """Whether the incident of `row` got a card in its group's thread before `row`."""
    if row.group_id is None:
        return False
    return (
        session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.transport == TRANSPORT,
                OutboxMessage.incident_id == row.incident_id,
                OutboxMessage.kind == "card",
                col(OutboxMessage.id) < (row.id or 0),
            )
        ).first()
        is not None
    )


def _has_newer_update(session: Session, row: OutboxMessage) -> bool:
    """Whether a newer update of the same message is waiting (then this one is moot)."""
    same_message = (
        OutboxMessage.incident_id == row.incident_id
        if row.incident_id is not None
        else (col(OutboxMessage.incident_id).is_(None) & (OutboxMessage.group_id == row.group_id))
    )
    return (
        session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.transport == TRANSPORT,
                same_message,
                OutboxMessage.kind == "update",
                col(OutboxMessage.id) > (row.id or 0),
                col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.sending]),
            )
        ).first()
        is not None
    )
