"""The ids and values an incident message's buttons and the reject modal carry back.

This is the contract between the renderer and the handler of Slack's interaction payloads:
`action_id` says which button, `block_id` which incident, and `value` what exactly was
clicked, as compact JSON. Approve and Reject carry the run and the full plan hash the person
saw, so a click can never approve a plan that changed after the message was drawn. The
parsers reject anything else: a payload is signed by Slack, but its values are still input.
"""

from __future__ import annotations

import json
import re
from typing import Any

APPROVE_ACTION = "warden_approve"
REJECT_ACTION = "warden_reject"
SILENCE_ACTION = "warden_silence"
#: Acknowledge an open incident (its value is the incident's, as Silence's).
ACK_ACTION = "warden_acknowledge"
#: Acknowledge every open incident of a group (on the group's parent message).
ACK_GROUP_ACTION = "warden_acknowledge_group"
REPORT_ACTION = "warden_report"
#: The reject modal's `callback_id`, and its one input (`state.values.reason.reason.value`).
REJECT_VIEW = "warden_reject_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason"
BLOCK_ID_PREFIX = "warden_incident_"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def run_value(run_id: int, plan_hash: str) -> str:
    """The value of a run's Approve and Reject buttons (and the modal's private metadata).

    >>> run_value(7, "ab" * 32)
    '{"run":7,"hash":"abababababababababababababababababababababababababababababababab"}'
    """
    _check_id("run", run_id)
    check_plan_hash(plan_hash)
    return _compact({"run": run_id, "hash": plan_hash})


def parse_run_value(value: str) -> tuple[int, str]:
    """(run id, plan hash) from a `run_value`; ValueError for anything else.

    >>> parse_run_value(run_value(7, "ab" * 32))[0]
    7
    """
    data = _object(value, {"run", "hash"})
    run_id, plan_hash = data["run"], data["hash"]
    _check_id("run", run_id)
    if not isinstance(plan_hash, str) or not _SHA256_HEX.fullmatch(plan_hash):
        raise ValueError(f"not a Warden run button value: {value[:200]!r}")
    return run_id, plan_hash


def incident_value(incident_id: int) -> str:
    """The value of an incident's Silence and Acknowledge buttons.

    >>> incident_value(12)
    '{"incident":12}'
    """
    _check_id("incident", incident_id)
    return _compact({"incident": incident_id})


def parse_incident_value(value: str) -> int:
    """The incident id from an `incident_value`; ValueError for anything else."""
    incident_id = _object(value, {"incident"})["incident"]
    _check_id("incident", incident_id)
    return int(incident_id)


def group_value(group_id: int) -> str:
    """The value of a group's Acknowledge all button.

    >>> group_value(4)
    '{"group":4}'
    """
    _check_id("group", group_id)
    return _compact({"group": group_id})


def parse_group_value(value: str) -> int:
    """The group id from a `group_value`; ValueError for anything else."""
    group_id = _object(value, {"group"})["group"]
    _check_id("group", group_id)
    return int(group_id)


def incident_block_id(incident_id: int) -> str:
    """The `block_id` of an incident message's buttons.

    >>> incident_block_id(12)
    'warden_incident_12'
    """
    _check_id("incident", incident_id)
    return f"{BLOCK_ID_PREFIX}{incident_id}"


def parse_incident_block_id(block_id: str) -> int:
    """The incident id from an `incident_block_id`; ValueError for anything else.

    >>> parse_incident_block_id("warden_incident_12")
    12
    """
    digits = block_id.removeprefix(BLOCK_ID_PREFIX)
    if digits == block_id or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not a Warden incident block id: {block_id[:200]!r}")
    return int(digits)


def check_plan_hash(plan_hash: str) -> None:
    """ValueError unless `plan_hash` is a sha256 in lowercase hex (what `Plan.hash` gives)."""
    if not _SHA256_HEX.fullmatch(plan_hash):
        raise ValueError(f"plan hash must be 64 lowercase hex digits, not {plan_hash!r}")


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def _object(value: str, keys: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        data = None
    # Keys beyond `keys` are allowed: the handler may add its own to the modal's metadata.
    if not isinstance(data, dict) or not keys <= set(data):
        raise ValueError(f"not a Warden button value: {str(value)[:200]!r}")
    return data


def _check_id(name: str, value: object) -> None:
    # bool is an int in Python; `{"run": true}` is not a run id.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} id must be a positive integer, not {value!r}")
