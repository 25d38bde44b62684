"""Slack messages of incident groups and escalations (pure: cards in, Block Kit out).

A group of two or more incidents has one parent message in its channel: one line per
incident (severity, number, title, state, the proposed plan), the details and buttons of
each in the parent's thread. A group of one is shown exactly as a single incident
(`render.incident_message`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from daemon.slack.cards import IncidentCard
from daemon.slack.mrkdwn import clip, clip_plain, escape, inline_code
from daemon.slack.values import ACK_GROUP_ACTION, group_value

#: Incident lines a parent message lists at most (Slack allows 50 blocks a message: these,
#: a header, "and n more", the Acknowledge all button and the closing context).
MAX_LINES = 40
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
_ICONS = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}
FINAL = ("resolved", "closed")


class IncidentLike(Protocol):
    """What an escalation's text needs of an incident (a stored `Incident` has it)."""

    id: int | None
    title: str
    status: str


def group_message(group_id: int, dataset: str, cards: Sequence[IncidentCard]) -> dict[str, Any]:
    """The parent message of a group of incidents."""
    worst = _worst(cards)
    icon = _ICONS.get(worst, ":white_circle:")
    open_count = sum(card.status not in FINAL for card in cards)
    title = f"{icon} {len(cards)} incidents on {dataset}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(clip_plain(title, MAX_HEADER_TEXT))},
    ]
    for card in cards[:MAX_LINES]:
        blocks.append(_section(_line(card)))
    if len(cards) > MAX_LINES:
        blocks.append(_context(f"and {len(cards) - MAX_LINES} more: see the thread"))
    state = (
        "All resolved or closed."
        if open_count == 0
        else f"{open_count} still open · details and buttons of each in the thread"
    )
    if any(card.status == "open" for card in cards):
        button = {
            "type": "button",
            "action_id": ACK_GROUP_ACTION,
            "text": _plain("Acknowledge all"),
            "value": group_value(group_id),
        }
        blocks.append(
            {"type": "actions", "block_id": f"warden_group_{group_id}", "elements": [button]}
        )
    blocks.append(_context(f"Group {group_id} · {state}"))
    text = f"{len(cards)} incidents on {dataset} ({worst}): " + "; ".join(
        f"#{card.incident_id} {card.title}" for card in cards[:10]
    )
    return {"text": clip_plain(text, 3000), "blocks": blocks}


def escalation_text(
    payload: Mapping[str, Any], dataset: str, members: Sequence[IncidentLike]
) -> str:
    """What an escalation step says: who is called, about what, since when."""
    mention = payload.get("mention")
    who = _mention_of(mention) + " " if mention else ""
    still_open = [member for member in members if member.status not in FINAL]
    what = f"{len(still_open)} open incident(s) on {escape(dataset)}: " + ", ".join(
        f"#{member.id} {escape(member.title)}" for member in still_open[:5]
    )
    if payload.get("action") == "remind":
        return clip(
            f":alarm_clock: {who}Reminder {payload.get('reminder')}: acknowledged but still "
            f"unresolved. {what}",
            MAX_SECTION_TEXT,
        )
    after = payload.get("after") or 0
    waited = f"{int(after // 60)} min" if after else "at once"
    return clip(
        f":rotating_light: {who}Escalation {inline_code(payload.get('policy') or '')} step "
        f"{int(payload.get('step') or 0) + 1} ({waited}): not acknowledged. {what}",
        MAX_SECTION_TEXT,
    )


def page_text(payload: Mapping[str, Any]) -> str:
    """The thread's note of a page sent, refused or given up."""
    return clip(f":pager: {escape(payload.get('detail') or '')}", MAX_SECTION_TEXT)


def notify_failed_text(payload: Mapping[str, Any]) -> str:
    """The thread's note of an escalation post Slack refused for good."""
    return clip(
        f":warning: The escalation could not notify {escape(payload.get('channel') or '')}: "
        f"{escape(payload.get('detail') or '')}. Check the channel id and that the bot is in "
        "it (`warden slack test`).",
        MAX_SECTION_TEXT,
    )


def _mention_of(target: str) -> str:
    """`<!subteam^S…>` for a user group, `<@U…>` for a user."""
    return f"<!subteam^{target}>" if target.startswith("S") else f"<@{target}>"


def _line(card: IncidentCard) -> str:
    icon = _ICONS.get(card.severity, ":white_circle:")
    parts = [f"{icon} *#{card.incident_id}* {escape(card.title)}", f"_{escape(card.status)}_"]
    if card.silenced_by:
        parts.append(f":zzz: {escape(card.silenced_by)}")
    if card.run is not None and card.status not in FINAL:
        parts.append(f"{escape(card.run.playbook)} {escape(card.run.status)}")
    return clip(" · ".join(parts), MAX_SECTION_TEXT)


def _worst(cards: Sequence[IncidentCard]) -> str:
    ranks = {"info": 0, "warning": 1, "critical": 2}
    return max((card.severity for card in cards), key=lambda s: ranks.get(s, -1), default="info")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
