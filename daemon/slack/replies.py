"""Replies in an incident message's thread, and the ephemeral refusals.

Each reply is a message payload, `{"text": ...}` in `mrkdwn` (add `channel` and
`thread_ts`); `refusal_text` is the text of an ephemeral answer to a click that was not
taken. Text from data and people is escaped and every reply is cut to Slack's limits.
Run steps are the playbooks' step log entries: `{"action", "target", "outcome"?}` plus
details such as `to`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from daemon.slack.cards import RunCard
from daemon.slack.mrkdwn import clip, clip_plain, escape, inline_code, mention, slack_date, tail

#: Slack takes far longer texts, but a reply is read on a phone.
MAX_REPLY_TEXT = 3000
#: Steps listed in a finished run's reply; the audit trail has them all.
MAX_LISTED_STEPS = 10
_SUMMARY_LENGTH = 1500
_STEP_LINE_LENGTH = 250
_PATH_LENGTH = 120

_RUN_STATES = {
    "proposed": ":hourglass_flowing_sand: {label} was not decided.",
    "approved": ":ballot_box_with_check: {label} approved{by}; it runs shortly.",
    "running": ":gear: {label} is running.",
    "succeeded": ":white_check_mark: {label} succeeded.",
    "failed": ":x: {label} failed; see the thread.",
    "rolled_back": ":leftwards_arrow_with_hook: {label} was rolled back; "
    "the incident is back with a person.",
    "rejected": ":no_entry_sign: {label} was rejected.",
    "expired": ":hourglass: {label} expired; nothing was done.",
}
_INCIDENT_ICONS = {
    "open": ":rotating_light:",
    "acknowledged": ":eyes:",
    "remediating": ":hammer_and_wrench:",
    "resolved": ":white_check_mark:",
    "closed": ":lock:",
}
_DECIDED = ("approved", "rejected", "expired")
_FINISHED = ("succeeded", "rolled_back", "failed")


def run_label(run: RunCard) -> str:
    """How replies name a run: its id, playbook and short plan hash."""
    return f"Run #{run.run_id} ({inline_code(run.playbook)}, plan {inline_code(run.short_hash)})"


def run_state_line(run: RunCard) -> str:
    """One line saying where a run stands (the incident message's final-state line)."""
    by = f" by {', '.join(mention(actor) for actor in run.approvals)}" if run.approvals else ""
    return _RUN_STATES[run.status].format(label=run_label(run), by=by)


def run_proposed_reply(run: RunCard) -> dict[str, Any]:
    """A run was proposed (also after a plan changed and the old proposal expired)."""
    by_agent = " by the agent" if run.origin == "agent" else ""
    if run.status == "approved":
        needs = "The route's `auto` policy approved it."
    elif run.approvals_needed == 1:
        needs = "It needs one approval."
    else:
        needs = f"It needs {run.approvals_needed} approvals by different people."
    summary = clip(escape(run.summary), _SUMMARY_LENGTH)
    return _reply(f":memo: {run_label(run)} proposed{by_agent}: {summary}\n{needs}")


def approval_recorded_reply(run: RunCard, approver: str, remaining: int) -> dict[str, Any]:
    """One approval was recorded; `remaining` more are needed (0: this one completed it)."""
    if remaining < 0:
        raise ValueError(f"remaining approvals cannot be negative, not {remaining}")
    needed = run.approvals_needed
    given = max(1, needed - remaining)
    text = f":ballot_box_with_check: {run_label(run)}: approval {given} of {needed} by "
    text += mention(approver)
    if remaining == 1:
        text += "; one more person must approve."
    elif remaining > 1:
        text += f"; {remaining} more people must approve."
    else:
        text += "."
    return _reply(text)


def run_decided_reply(
    run: RunCard, status: str, actor: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The run was `approved`, `rejected` (`reason` says why) or `expired`."""
    if status not in _DECIDED:
        raise ValueError(f"run status {status!r} is not a decision ({', '.join(_DECIDED)})")
    by = f" by {mention(actor)}" if actor else ""
    if status == "approved":
        because = f": {escape(reason)}" if reason else ""
        text = f":white_check_mark: {run_label(run)} approved{by}{because}."
    elif status == "rejected":
        because = f": {escape(reason)}" if reason else ""
        text = f":no_entry_sign: {run_label(run)} rejected{by}{because}"
    else:
        why = escape(reason) if reason else "not decided in time"
        text = f":hourglass: {run_label(run)} expired: {why}; nothing was done."
    return _reply(text)


def run_started_reply(run: RunCard, *, worker: str | None = None) -> dict[str, Any]:
    """A worker claimed the run and started applying it."""
    where = f" on {escape(worker)}" if worker else ""
    return _reply(f":gear: {run_label(run)} started{where}.")


def run_step_reply(step: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of a run's step log."""
    return _reply(f"• {_step_line(step)}")


def run_finished_reply(
    status: str,
    message: str,
    steps: Sequence[Mapping[str, Any]],
    *,
    run: RunCard | None = None,
) -> dict[str, Any]:
    """The run ended: `succeeded` (`message` says how it was verified), `rolled_back` or
    `failed` (`message` says why); the first steps of its log are listed."""
    label = run_label(run) if run is not None else "The run"
    reason = escape(message)
    if status == "succeeded":
        head = f":white_check_mark: {label} succeeded: {reason}"
    elif status == "rolled_back":
        head = (
            f":leftwards_arrow_with_hook: {label} was rolled back: {reason}. "
            "The incident is back with a person."
        )
    elif status == "failed":
        head = f":x: {label} failed: {reason}"
    else:
        raise ValueError(f"run status {status!r} is not an end ({', '.join(_FINISHED)})")
    lines = [clip(head, _SUMMARY_LENGTH)]
    lines += [f"• {_step_line(step)}" for step in steps[:MAX_LISTED_STEPS]]
    if len(steps) > MAX_LISTED_STEPS:
        lines.append(f"… and {len(steps) - MAX_LISTED_STEPS} more steps (see the audit trail)")
    return _reply("\n".join(lines))


def incident_status_reply(
    old: str, new: str, actor: str, reason: str | None = None
) -> dict[str, Any]:
    """The incident moved from `old` to `new` (by a person, the runner or a clean scan)."""
    icon = _INCIDENT_ICONS.get(new, ":arrow_right:")
    because = f": {escape(reason)}" if reason else ""
    return _reply(f"{icon} Incident {escape(old)} → {escape(new)} by {mention(actor)}{because}")


def silenced_reply(actor: str, until: datetime, reason: str | None = None) -> dict[str, Any]:
    """Someone silenced the incident: detections are recorded, not notified, until `until`."""
    because = f" ({escape(reason)})" if reason else ""
    return _reply(
        f":zzz: Silenced by {mention(actor)} until {slack_date(until)}{because}. "
        "New detections are recorded but not notified until then."
    )


def refusal_text(reason: str) -> str:
    """The ephemeral answer to a click that was not taken (not an approver, already
    decided, the plan changed...): `reason` says why."""
    return clip(f":no_entry: {escape(reason)}", MAX_REPLY_TEXT)


def _step_line(step: Mapping[str, Any]) -> str:
    """`action` target → outcome (other details), escaped; paths keep their end."""
    action = step.get("action") or step.get("step") or "step"
    parts = [inline_code(clip_plain(action, 60))]
    if step.get("target"):
        parts.append(escape(tail(step["target"], _PATH_LENGTH)))
    outcome = step.get("outcome") or step.get("status")
    if outcome:
        parts.append(f"→ {escape(clip_plain(outcome, 200))}")
    shown = {"action", "step", "target", "outcome", "status"}
    extras = [
        f"{escape(clip_plain(key, 40))}: {escape(tail(value, _PATH_LENGTH))}"
        for key, value in step.items()
        if key not in shown and value not in (None, "")
    ]
    if extras:
        parts.append(f"({'; '.join(extras)})")
    return clip(" ".join(parts), _STEP_LINE_LENGTH)


def _reply(text: str) -> dict[str, Any]:
    return {"text": clip(text, MAX_REPLY_TEXT)}
