"""Slack Block Kit payloads for incidents: the incident message, the reject modal, replies.

Every function here is pure: it turns an `IncidentCard` / `RunCard` (or plain values) into
the JSON Slack takes, and reads nothing. The daemon posts the incident message once and
updates it in place after every change, so buttons disappear as soon as a run is decided.

- The incident message shows the facts, the most significant alerting findings, and the
  proposed plan with its short hash. While the run is `proposed` and the incident still
  active it carries **Approve** (with a confirm dialog naming the playbook and the hash),
  **Reject** (answered with `reject_reason_modal`) and **Silence 24h**; afterwards a context
  line states what became of it. **Open report** links the report when there is one.
- Button values are compact JSON: `{"run": id, "hash": plan_hash}` for approve and reject
  (so a click binds to the plan the person saw), `{"incident": id}` for silence. The
  handler parses them back with `parse_run_value` and `parse_incident_value`, and must still
  check the clicker is an approver and the hash is the run's current one.
- Text from data and people is escaped (`daemon.slack.mrkdwn`), and every text is cut to
  Slack's limits: a section's text at 3,000 characters, 10 fields, 50 blocks.
"""

from __future__ import annotations

from typing import Any

from daemon.slack.cards import SHORT_HASH_LENGTH, IncidentCard, RunCard
from daemon.slack.evidence import EVIDENCE_ROWS, evidence_text
from daemon.slack.mrkdwn import clip, clip_plain, escape, inline_code, mention, slack_date
from daemon.slack.replies import (
    approval_recorded_reply,
    incident_status_reply,
    refusal_text,
    run_decided_reply,
    run_finished_reply,
    run_proposed_reply,
    run_started_reply,
    run_state_line,
    run_step_reply,
    silenced_reply,
)
from daemon.slack.values import (
    ACK_ACTION,
    APPROVE_ACTION,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_ACTION,
    REJECT_VIEW,
    REPORT_ACTION,
    SILENCE_ACTION,
    incident_block_id,
    incident_value,
    parse_incident_block_id,
    parse_incident_value,
    parse_run_value,
    run_value,
)

# Every renderer and the interaction contract, importable from this one module.
__all__ = [
    "ACK_ACTION",
    "APPROVE_ACTION",
    "EVIDENCE_ROWS",
    "METADATA_EVENT",
    "REASON_ACTION",
    "REASON_BLOCK",
    "REJECT_ACTION",
    "REJECT_VIEW",
    "REPORT_ACTION",
    "SILENCE_ACTION",
    "IncidentCard",
    "RunCard",
    "approval_recorded_reply",
    "incident_block_id",
    "incident_message",
    "incident_status_reply",
    "incident_value",
    "message_metadata",
    "parse_incident_block_id",
    "parse_incident_value",
    "parse_run_value",
    "refusal_text",
    "reject_reason_modal",
    "run_decided_reply",
    "run_finished_reply",
    "run_proposed_reply",
    "run_started_reply",
    "run_step_reply",
    "run_value",
    "silenced_reply",
]

#: The `event_type` of the metadata Warden attaches to incident messages, so a restarted
#: daemon can find its message in the channel's history (`message_metadata`).
METADATA_EVENT = "warden_incident"

#: Slack's limits (Block Kit reference).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 3000
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_MODAL_TITLE = 24
MAX_REASON_LENGTH = 3000

_SEVERITY_ICONS = {
    "critical": ":red_circle:",
    "warning": ":large_orange_circle:",
    "info": ":large_blue_circle:",
}


def incident_message(card: IncidentCard) -> dict[str, Any]:
    """The incident's message: `text` (the notification's fallback) and `blocks`."""
    blocks: list[dict[str, Any]] = [
        _header(card),
        {"type": "section", "fields": _facts(card)},
        _context(_about(card)),
        _section(evidence_text(card.findings, card.incident_id, limit=MAX_SECTION_TEXT)),
    ]
    if card.run is not None:
        blocks.append(_section(_proposal(card.run)))
    elif card.is_active:
        blocks.append(_context("No playbook is proposed for this incident: notify only."))
    pending = _pending_run(card)
    if pending is not None:
        blocks.append(_context(_approvals(pending)))
    actions = _buttons(card)
    if actions:
        blocks.append(
            {
                "type": "actions",
                "block_id": incident_block_id(card.incident_id),
                "elements": actions,
            }
        )
    state = _final_state(card)
    if state:
        blocks.append(_context(state, block_id=f"{incident_block_id(card.incident_id)}_state"))
    if len(blocks) > MAX_BLOCKS:  # not reachable with today's layout; kept as Slack's hard limit
        blocks = [*blocks[: MAX_BLOCKS - 1], blocks[-1]]
    return {"text": _fallback(card), "blocks": blocks}


def message_metadata(card: IncidentCard) -> dict[str, Any]:
    """Slack message metadata (`metadata` of chat.postMessage / chat.update) naming the
    incident and run, to find the message again with conversations.history."""
    payload: dict[str, Any] = {"incident_id": card.incident_id}
    if card.run is not None:
        payload["run_id"] = card.run.run_id
    return {"event_type": METADATA_EVENT, "event_payload": payload}


def reject_reason_modal(run_id: int, plan_hash: str) -> dict[str, Any]:
    """The modal that asks why a run is rejected; its `private_metadata` is the same JSON as
    the Reject button's value, and the reason is at `state.values.reason.reason.value`."""
    metadata = run_value(run_id, plan_hash)
    short_hash = inline_code(plan_hash[:SHORT_HASH_LENGTH])
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": metadata,
        "title": _plain(clip_plain(f"Reject run #{run_id}", MAX_MODAL_TITLE)),
        "submit": _plain("Reject"),
        "close": _plain("Cancel"),
        "blocks": [
            _section(
                f"Plan {short_hash} of run #{run_id} will not be applied. "
                "Your reason is kept in the audit trail."
            ),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": _plain("Why reject it?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": MAX_REASON_LENGTH,
                    "placeholder": _plain("For example: the upstream job was re-run"),
                },
            },
        ],
    }


def _header(card: IncidentCard) -> dict[str, Any]:
    icon = _SEVERITY_ICONS.get(card.severity, ":white_circle:")
    text = f"{icon} {card.severity.capitalize()}: {card.title}"
    return {"type": "header", "text": _plain(clip_plain(text, MAX_HEADER_TEXT), emoji=True)}


def _facts(card: IncidentCard) -> list[dict[str, Any]]:
    facts = [
        ("Severity", escape(card.severity)),
        ("Status", escape(card.status)),
        ("Dataset", escape(card.dataset)),
        ("Monitor", escape(card.monitor)),
        ("Pattern", escape(card.pattern)),
        ("Occurrences", str(card.occurrences)),
        ("First seen", slack_date(card.first_seen)),
        ("Last seen", slack_date(card.last_seen)),
    ]
    return [_mrkdwn(clip(f"*{name}*\n{value}", MAX_FIELD_TEXT)) for name, value in facts][
        :MAX_FIELDS
    ]


def _about(card: IncidentCard) -> str:
    parts = [f"Incident #{card.incident_id}"]
    if card.scope:
        scope = ", ".join(f"{key}={value}" for key, value in card.scope.items())
        parts.append(f"scope: {escape(scope)}")
    if card.silenced_by:
        parts.append(f":zzz: silenced by {escape(card.silenced_by)}")
    if card.dataset_version:
        parts.append(f"data version {inline_code(card.dataset_version)}")
    if card.downstream_runs:
        jobs = ", ".join(escape(job) for job in card.downstream_jobs)
        more = "…" if card.downstream_runs > len(card.downstream_jobs) else ""
        parts.append(
            f":warning: read by {card.downstream_runs} job run(s) since: {jobs}{more} "
            f"(`warden lineage impact {card.incident_id}`)"
        )
    return " · ".join(parts)


def _proposal(run: RunCard) -> str:
    by_agent = " · proposed by the agent" if run.origin == "agent" else ""
    head = (
        f"*Proposed fix*: {inline_code(run.playbook)} · run #{run.run_id} · "
        f"plan {inline_code(run.short_hash)} · approval: {escape(run.approval_policy)}{by_agent}"
    )
    return clip(f"{head}\n{escape(run.summary)}", MAX_SECTION_TEXT)


def _approvals(run: RunCard) -> str:
    given = ", ".join(mention(actor) for actor in run.approvals) or "none yet"
    return f"Approvals: {given} ({len(run.approvals)} of {run.approvals_needed} needed)"


def _pending_run(card: IncidentCard) -> RunCard | None:
    """The run waiting for a decision: proposed, for an incident that is still active."""
    run = card.run
    return run if run is not None and run.status == "proposed" and card.is_active else None


def _buttons(card: IncidentCard) -> list[dict[str, Any]]:
    buttons = []
    run = _pending_run(card)
    if run is not None:
        value = run_value(run.run_id, run.plan_hash)
        confirm = _confirm(card.incident_id, run)
        buttons += [
            _button("Approve", APPROVE_ACTION, value, style="primary", confirm=confirm),
            _button("Reject", REJECT_ACTION, value, style="danger"),
        ]
    if card.status == "open":
        buttons.append(_button("Acknowledge", ACK_ACTION, incident_value(card.incident_id)))
    if card.is_active and card.silenced_by is None:
        buttons.append(_button("Silence 24h", SILENCE_ACTION, incident_value(card.incident_id)))
    if card.report_url:
        buttons.append(
            {
                "type": "button",
                "action_id": REPORT_ACTION,
                "text": _plain("Open report"),
                "url": card.report_url,
            }
        )
    return buttons


def _confirm(incident_id: int, run: RunCard) -> dict[str, Any]:
    """The Approve button's dialog: exactly which playbook and plan the click approves."""
    second = (
        f" This is approval {len(run.approvals) + 1} of {run.approvals_needed}."
        if run.approvals_needed > 1
        else ""
    )
    text = (
        f"You approve playbook {run.playbook} with plan {run.short_hash} for incident "
        f"#{incident_id}. If the data has changed since, nothing runs and a new plan "
        f"is proposed instead.{second}"
    )
    return {
        "title": _plain(clip_plain(f"Approve run #{run.run_id}?", MAX_CONFIRM_TITLE)),
        "text": _plain(clip_plain(text, MAX_CONFIRM_TEXT)),
        "confirm": _plain("Approve"),
        "deny": _plain("Cancel"),
        "style": "primary",
    }


def _final_state(card: IncidentCard) -> str | None:
    """What became of the incident and its run, once there is nothing left to decide."""
    if _pending_run(card) is not None:
        return None
    parts = [] if card.is_active else [f"Incident {escape(card.status)}."]
    if card.run is not None:
        parts.append(run_state_line(card.run))
    return " ".join(parts) or None


def _fallback(card: IncidentCard) -> str:
    text = f"{card.severity} incident #{card.incident_id}: {card.title} ({card.status})"
    if card.run is not None:
        waiting = "awaiting approval" if _pending_run(card) else card.run.status
        text += f"; run #{card.run.run_id} ({card.run.playbook}) {waiting}"
    return clip(escape(text), MAX_FALLBACK_TEXT)


def _button(
    label: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label),
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _plain(text: str, *, emoji: bool = False) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(clip(text, MAX_SECTION_TEXT))}


def _context(text: str, *, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "context",
        "elements": [_mrkdwn(clip(text, MAX_CONTEXT_TEXT))],
    }
    if block_id:
        block["block_id"] = block_id
    return block
