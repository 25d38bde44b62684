"""What a Slack interaction payload asks for, and the key that makes it happen once.

Slack sends `block_actions` when someone clicks a button of an incident message and
`view_submission` when they submit the reject-reason dialog. `parse` turns either into an
`Interaction`; anything else (a shortcut, a message action, another app's blocks) is None
and is acknowledged without being stored.

The dedupe key is the same for every delivery of one click or submission (Slack's retries,
`X-Slack-Retry-Num`, Socket Mode's `retry_attempt`, the same event reaching two replicas) and
different for two clicks, even by the same person: user + action + Slack's `action_ts`, or
the view's id + hash for a submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from daemon.slack.render import APPROVE_ACTION, REJECT_ACTION, REJECT_VIEW, SILENCE_ACTION

#: Warden's button action ids and the action each stands for.
BUTTON_ACTIONS = {APPROVE_ACTION: "approve", REJECT_ACTION: "reject", SILENCE_ACTION: "silence"}


@dataclass(frozen=True)
class Interaction:
    """One click or submission: who, where and what."""

    key: str
    action: str  # approve | reject | silence | reject_reason
    user_id: str | None
    team_id: str | None
    channel_id: str | None
    value: dict[str, Any] = field(default_factory=dict)
    trigger_id: str | None = None
    reason: str | None = None


def parse(payload: dict[str, Any]) -> Interaction | None:
    """The interaction `payload` (Slack's JSON) asks for, or None when it is not Warden's."""
    kind = payload.get("type")
    user = (payload.get("user") or {}).get("id")
    team = (payload.get("team") or {}).get("id") or (payload.get("user") or {}).get("team_id")
    if kind == "block_actions":
        for action in payload.get("actions") or []:
            name = BUTTON_ACTIONS.get(action.get("action_id", ""))
            if name is None:
                continue
            return Interaction(
                key=f"{user}:{action.get('action_ts')}:{action.get('action_id')}",
                action=name,
                user_id=user,
                team_id=team,
                channel_id=(payload.get("channel") or {}).get("id"),
                value=_json_object(action.get("value")),
                trigger_id=payload.get("trigger_id"),
            )
        return None
    if kind == "view_submission":
        view = payload.get("view") or {}
        if view.get("callback_id") != REJECT_VIEW:
            return None
        metadata = _json_object(view.get("private_metadata"))
        return Interaction(
            key=f"view:{view.get('id')}:{view.get('hash')}",
            action="reject_reason",
            user_id=user,
            team_id=team,
            channel_id=metadata.get("channel"),
            value=metadata,
            reason=_submitted_reason(view),
        )
    return None


def _submitted_reason(view: dict[str, Any]) -> str | None:
    values = (view.get("state") or {}).get("values") or {}
    entry = (values.get("reason") or {}).get("reason") or {}
    value = entry.get("value")
    return value.strip() if isinstance(value, str) else None


def _json_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
