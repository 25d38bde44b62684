"""Where the Slack outbox writer puts the messages of grouped incidents and escalations.

A group of one is shown as a single incident: its message is the group's parent. When a
second incident joins, the parent is updated to the group's list (`group_render`) and each
member gets its own card, with its buttons, in the parent's thread; a later member updates
the parent and posts its card. An incident's later changes update its card (and the
parent's line); replies always thread on the parent. Escalation steps post to another
channel (`notify`), or reply in the thread mentioning a group (`mention`, reminders), and a
page's fate is replied there too.

Rows carry the group's id, so the dispatcher sends a group's rows in order: a card never
leaves before its parent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from daemon.incidents.group_lifecycle import members_of
from daemon.slack import group_render
from daemon.slack.cards import IncidentCard
from daemon.slack.incident_cards import incident_card
from daemon.slack.mrkdwn import escape
from daemon.store.models import AuditEvent, Incident, OutboxMessage, OutboxStatus
from daemon.store.oncall_models import IncidentGroup

log = logging.getLogger(__name__)

#: Events of a group that are told in Slack (the others show through its members).
TOLD_EVENTS = frozenset(
    {"escalation.step_fired", "escalation.notify_failed", "page.refused", "page.failed"}
)
#: Renders an incident's own message (the writer's, with its report link).
Render = Callable[[Session, Incident], dict[str, Any]]


def write_grouped(
    session: Session,
    event: AuditEvent,
    incident: Incident,
    group: IncidentGroup,
    *,
    update: bool,
    replies: list[dict[str, Any]],
    render: Render,
) -> None:
    """The rows for one event of a grouped incident (see the module docstring)."""
    members = members_of(session, group.id or 0)
    parent = _parent(session, group.id or 0)
    channel = parent.channel if parent is not None else group.channel
    seq, incident_id = event.seq, incident.id or 0

    def add(key: str, kind: str, message: dict[str, Any], owner: int | None) -> None:
        _enqueue(session, channel, key, kind, message, owner, group.id)

    if parent is None and len(members) <= 1:
        add(f"incident:{incident_id}:post:{seq}", "post", render(session, incident), incident_id)
    elif parent is None:
        add(f"group:{group.id}:post:{seq}", "post", _group_message(session, group, members), None)
        for member in members:
            add(f"incident:{member.id}:card:{seq}", "card", render(session, member), member.id)
    elif len(members) <= 1:
        if update:
            add(
                f"incident:{incident_id}:update:{seq}",
                "update",
                render(session, incident),
                incident_id,
            )
    else:
        missing = [member for member in members if _card(session, member.id or 0) is None]
        if missing or update:
            message = _group_message(session, group, members)
            add(f"group:{group.id}:update:{seq}", "update", message, None)
        for member in missing:
            add(f"incident:{member.id}:card:{seq}", "card", render(session, member), member.id)
        if update and incident_id not in {member.id for member in missing}:
            add(
                f"incident:{incident_id}:update:{seq}",
                "update",
                render(session, incident),
                incident_id,
            )
    for index, reply in enumerate(replies):
        add(f"incident:{incident_id}:reply:{seq}:{index}", "reply", reply, incident_id)


def write_group_event(session: Session, event: AuditEvent) -> None:
    """The rows for an event of a group itself: escalation steps and pages."""
    if event.action not in TOLD_EVENTS:
        return  # the group's own changes show through its members' messages
    group = session.get(IncidentGroup, int(event.entity_id))
    if group is None:
        return
    parent = _parent(session, group.id or 0)
    payload, seq = event.payload, event.seq
    if event.action == "escalation.step_fired":
        action = payload.get("action")
        members = members_of(session, group.id or 0)
        text = group_render.escalation_text(payload, group.dataset, members)
        if action == "notify" and payload.get("channel"):
            # Another channel: a post of its own (not in the group's order).
            _enqueue(
                session,
                payload["channel"],
                notify_key(group.id or 0, seq),
                "post",
                {"text": text},
                None,
                None,
            )
            return
        if action == "page":
            text = f":pager: Paging PagerDuty (escalation {payload.get('policy')})."
    elif event.action in ("page.refused", "page.failed"):
        text = group_render.page_text(payload)
    elif event.action == "escalation.notify_failed":
        text = group_render.notify_failed_text(payload)
    else:
        return
    if parent is None:
        return  # nothing in Slack to thread on (no channel, or its post failed for good)
    _enqueue(
        session,
        parent.channel,
        f"group:{group.id}:reply:{seq}",
        "reply",
        {"text": text},
        None,
        group.id,
    )


def notify_key(group_id: int, seq: int) -> str:
    """The dedupe key of an escalation step's post to another channel."""
    return f"group:{group_id}:notify:{seq}"


def group_of_notify(dedupe_key: str) -> int | None:
    """The group whose escalation step wrote this row, for a `notify_key`; else None."""
    parts = dedupe_key.split(":")
    if len(parts) == 4 and parts[0] == "group" and parts[2] == "notify" and parts[1].isdigit():
        return int(parts[1])
    return None


def _group_message(
    session: Session, group: IncidentGroup, members: list[Incident]
) -> dict[str, Any]:
    try:
        cards: list[IncidentCard] = [incident_card(session, member) for member in members]
        return group_render.group_message(group.id or 0, group.dataset, cards)
    except Exception:  # a rendering bug must not undo the change itself
        log.exception("could not render the Slack message of group %s", group.id)
        lines = "; ".join(f"#{member.id} {escape(member.title)}" for member in members)
        return {"text": f"{len(members)} incidents on {escape(group.dataset)}: {lines}"}


def _parent(session: Session, group_id: int) -> OutboxMessage | None:
    """The group's parent message: its newest top-level post that did not fail."""
    return session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.transport == "slack",
            OutboxMessage.group_id == group_id,
            OutboxMessage.kind == "post",
            OutboxMessage.status != OutboxStatus.failed,
        )
        .order_by(col(OutboxMessage.id).desc())
    ).first()


def _card(session: Session, incident_id: int) -> OutboxMessage | None:
    return session.exec(
        select(OutboxMessage).where(
            OutboxMessage.incident_id == incident_id,
            OutboxMessage.kind == "card",
            OutboxMessage.status != OutboxStatus.failed,
        )
    ).first()


def _enqueue(
    session: Session,
    channel: str,
    key: str,
    kind: str,
    message: dict[str, Any],
    incident_id: int | None,
    group_id: int | None,
) -> None:
    session.add(
        OutboxMessage(
            channel=channel,
            dedupe_key=key,
            payload=message,
            kind=kind,
            incident_id=incident_id,
            group_id=group_id,
        )
    )
    session.flush()
