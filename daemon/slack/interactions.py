"""What a Slack interaction payload asks for, and the key that makes it happen once.

Slack sends `block_actions` when someone clicks a button of an incident message and
`view_submission` when they submit the reject-reason dialog. `parse` turns either into an
`Interaction`; anything else (a shortcut, a message action, another app's blocks) is None
and is acknowledged without being stored.

The dedupe key is the same for every delivery of one click or submission (Slack's retries,
`X-Slack-Retry-Num`, Socket Mode's `retry_attempt`, the same event reaching two replicas) and
different for two clicks, even by the same person: user + action + Slack's `action_ts`, or
the view's id + hash for a submission.

A payload is signed by Slack, but its fields are still input. One of Warden's own kinds
(a click on a Warden button, a submission of Warden's dialog) whose fields are missing, of
the wrong JSON type, too long for the store, or whose button value is not one Warden wrote
raises `MalformedInteraction`: the request URL answers 400 and nothing is spooled, so a
payload the store would refuse never reaches the spool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.slack.render import (
    ACK_ACTION,
    APPROVE_ACTION,
    MAX_REASON_LENGTH,
    REJECT_ACTION,
    REJECT_VIEW,
    SILENCE_ACTION,
    parse_incident_value,
    parse_run_value,
)
from daemon.slack.values import ACK_GROUP_ACTION, parse_group_value

#: Warden's button action ids and the action each stands for.
BUTTON_ACTIONS = {
    APPROVE_ACTION: "approve",
    REJECT_ACTION: "reject",
    SILENCE_ACTION: "silence",
    ACK_ACTION: "acknowledge",
    ACK_GROUP_ACTION: "acknowledge_group",
}
#: Slack's ids (user, team, channel, view), `action_ts` and a view's hash: letters, digits
#: and `. _ : -`, at most 50 characters (the store's `user_id` and `team_id` hold 50).
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,50}")
#: Longest button value, modal `private_metadata` and `action_id` Slack allows, and a
#: generous trigger id.
MAX_VALUE_LENGTH = 2000
MAX_METADATA_LENGTH = 3000
MAX_ACTION_ID_LENGTH = 255
MAX_TRIGGER_LENGTH = 255
#: The largest id a Warden record has (SQLite's rowid, PostgreSQL's bigint).
MAX_RECORD_ID = 2**63 - 1


class MalformedInteraction(ValueError):
    """A payload of Warden's own kind with missing, mistyped or oversized fields."""


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


def parse(payload: Any) -> Interaction | None:
    """The interaction `payload` (Slack's JSON) asks for, or None when it is not Warden's;
    `MalformedInteraction` when it is Warden's kind but not well formed."""
    if not isinstance(payload, Mapping):
        raise MalformedInteraction("the payload must be a JSON object")
    kind = payload.get("type")
    if kind == "block_actions":
        return _click(payload)
    if kind == "view_submission":
        return _submission(payload)
    return None


def _click(payload: Mapping[str, Any]) -> Interaction | None:
    actions = payload.get("actions")
    if not isinstance(actions, list):
        raise MalformedInteraction("`actions` must be a list")
    for action in actions:
        if not isinstance(action, Mapping):
            raise MalformedInteraction("each of `actions` must be an object")
        action_id = _text(action, "action_id", MAX_ACTION_ID_LENGTH)
        name = BUTTON_ACTIONS.get(action_id or "")
        if action_id is None or name is None:
            continue  # another app's element
        user = _token(_object(payload, "user"), "user.id", required=True)
        stamp = _token(action, "action_ts", required=True)
        return Interaction(
            key=f"{user}:{stamp}:{action_id}",
            action=name,
            user_id=user,
            team_id=_team(payload),
            channel_id=_token(_object(payload, "channel"), "channel.id"),
            value=_button_value(name, _text(action, "value", MAX_VALUE_LENGTH)),
            trigger_id=_text(payload, "trigger_id", MAX_TRIGGER_LENGTH),
        )
    return None


def _submission(payload: Mapping[str, Any]) -> Interaction | None:
    view = _object(payload, "view")
    if view.get("callback_id") != REJECT_VIEW:
        return None
    metadata = _run_value(_text(view, "private_metadata", MAX_METADATA_LENGTH))
    channel = metadata.get("channel")
    if channel is not None and not (isinstance(channel, str) and _TOKEN.fullmatch(channel)):
        raise MalformedInteraction("the dialog's channel must be a Slack channel id")
    return Interaction(
        key=f"view:{_token(view, 'view.id', required=True)}:"
        f"{_token(view, 'view.hash', required=True)}",
        action="reject_reason",
        user_id=_token(_object(payload, "user"), "user.id", required=True),
        team_id=_team(payload),
        channel_id=channel,
        value=metadata,
        reason=_submitted_reason(view),
    )


def _team(payload: Mapping[str, Any]) -> str | None:
    team = _token(_object(payload, "team"), "team.id")
    return team or _token(_object(payload, "user"), "user.team_id")


def _button_value(action: str, value: str | None) -> dict[str, Any]:
    if action == "acknowledge_group":
        try:
            group_id = parse_group_value(value or "")
        except ValueError as error:
            raise MalformedInteraction(str(error)) from None
        _check_record_id(group_id)
        return {"group": group_id}
    if action in ("silence", "acknowledge"):
        try:
            incident_id = parse_incident_value(value or "")
        except ValueError as error:
            raise MalformedInteraction(str(error)) from None
        _check_record_id(incident_id)
        return {"incident": incident_id}
    return _run_value(value)


def _run_value(value: str | None) -> dict[str, Any]:
    """The run button value (or dialog metadata) as a dict, checked by `parse_run_value`."""
    try:
        run_id, _ = parse_run_value(value or "")
    except ValueError as error:
        raise MalformedInteraction(str(error)) from None
    _check_record_id(run_id)
    data = json.loads(value or "")
    assert isinstance(data, dict)  # parse_run_value checked it
    return data


def _submitted_reason(view: Mapping[str, Any]) -> str | None:
    values = _object(_object(view, "state"), "values")
    entry = _object(_object(values, "reason"), "reason")
    value = _text(entry, "value", MAX_REASON_LENGTH)
    return value.strip() if value is not None else None


def _check_record_id(value: int) -> None:
    if value > MAX_RECORD_ID:
        raise MalformedInteraction(f"{value} is not a Warden record id (too large)")


def _object(container: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedInteraction(f"`{key}` must be an object")
    return value


def _text(container: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedInteraction(f"`{key}` must be a string")
    if len(value) > limit:
        raise MalformedInteraction(f"`{key}` is longer than {limit} characters")
    return value


def _token(container: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """A Slack id or timestamp at `container[last part of name]`; `name` is for messages."""
    value = container.get(name.rpartition(".")[2])
    if value is None:
        if required:
            raise MalformedInteraction(f"`{name}` is missing")
        return None
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise MalformedInteraction(
            f"`{name}` must be a Slack id (letters, digits, . _ : -; at most 50 characters)"
        )
    return value
