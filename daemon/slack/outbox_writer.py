"""From audit events to Slack messages in the outbox, in the same transaction.

Every state change Warden makes is an audit event (`daemon.store.audit.append_audit`); this
hook turns the ones a person should hear about into `OutboxMessage` rows written in the
transaction of that change. Either both commit or neither does, so a message is never lost
to a crash and never reports a change that did not happen. `daemon.slack.dispatcher` sends
the rows.

One message per incident in its routed channel (the route's `channel`, else
`slack.channel`), posted when the incident is routed; later events update that message
(the current state, rendered when the event happens) and/or reply in its thread. Incidents
that share a group share one parent message, with each one's card in its thread
(`daemon.slack.group_outbox`, which also writes escalation steps and page outcomes):

| event | message |
| --- | --- |
| incident.routed | the incident's message (posted once) |
| incident.updated, incident.silenced, run.approved | the message updated |
| incident.acknowledged / remediating / resolved / closed | reply + update |
| run.proposed, run.approve_recorded, run.rejected, run.expired, run.running | reply + update |
| run.step (each step as it completes), run.taken_over | reply |
| run.succeeded / rolled_back / failed | the outcome + update |

An incident that was never routed (it opened inside a silence) gets no message until it is;
one whose message failed for good (say, the bot was not in the channel) gets a new message
at its next event.
Dedupe keys are built from the audit event's `seq`, which is unique, so a row can never be
written twice for one event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from daemon.config.models import SlackConfig, WardenConfig
from daemon.reporting.report_links import ReportLinks
from daemon.slack import render
from daemon.slack.group_outbox import write_group_event, write_grouped
from daemon.slack.incident_cards import incident_card, run_card
from daemon.slack.mrkdwn import escape
from daemon.store.models import AuditEvent, Incident, OutboxMessage, OutboxStatus, PlaybookRun
from daemon.store.oncall_models import IncidentGroup

if TYPE_CHECKING:
    from daemon.store.engine import Store

log = logging.getLogger(__name__)

#: Events that update the incident's message (besides those with replies, which do too).
UPDATE_ONLY = frozenset({"incident.updated", "incident.silenced", "run.approved"})
INCIDENT_STATUS_EVENTS = frozenset(
    {"incident.acknowledged", "incident.remediating", "incident.resolved", "incident.closed"}
)
RUN_DECIDED_EVENTS = frozenset({"run.rejected", "run.expired"})
RUN_FINISHED_EVENTS = frozenset({"run.succeeded", "run.rolled_back", "run.failed"})


@dataclass
class _Messages:
    update: bool = False
    replies: list[dict[str, Any]] = field(default_factory=list)


class SlackOutboxWriter:
    """An audit hook (`Store.audit_hooks`) writing Slack messages for incident events."""

    def __init__(self, settings: SlackConfig, report_links: ReportLinks | None = None) -> None:
        self.settings = settings
        #: How the message links the incident's report (`<http.public_url>/incidents/<id>`,
        #: signed and expiring while the API needs a token); None: no link.
        self.report_links = report_links

    def __call__(self, session: Session, event: AuditEvent) -> None:
        if event.entity_type == "incident_group":
            try:
                write_group_event(session, event)
            except SQLAlchemyError:
                raise  # the store itself failed: the change cannot commit either
            except Exception:  # a rendering bug must not undo the change itself
                log.exception("could not write the Slack message of %s", event.action)
            return
        incident_id = _incident_of(session, event)
        if incident_id is None:
            return
        incident = session.get(Incident, incident_id)
        if incident is None or incident.route is None:
            return  # not routed (yet): nobody is told
        channel = incident.route.get("channel") or self.settings.channel
        if not channel:
            return
        try:
            messages = self._messages_for(session, event, incident)
        except Exception:  # a rendering bug must not undo the change itself
            log.exception("could not render the Slack reply for %s", event.action)
            messages = _Messages(update=True, replies=[{"text": _plain_event(event)}])
        group = session.get(IncidentGroup, incident.group_id) if incident.group_id else None
        if group is not None:
            write_grouped(
                session,
                event,
                incident,
                group,
                update=messages.update,
                replies=messages.replies,
                render=self._incident_message,
            )
            return
        root = _root_of(session, incident_id)
        if root is None:
            # The first event worth telling about posts the message, in its current state.
            enqueue(
                session,
                channel,
                f"incident:{incident_id}:post:{event.seq}",
                "post",
                self._incident_message(session, incident),
                incident_id,
            )
        elif messages.update:
            enqueue(
                session,
                root.channel,
                f"incident:{incident_id}:update:{event.seq}",
                "update",
                self._incident_message(session, incident),
                incident_id,
            )
        for index, reply in enumerate(messages.replies):
            enqueue(
                session,
                channel,
                f"incident:{incident_id}:reply:{event.seq}:{index}",
                "reply",
                reply,
                incident_id,
            )

    def _incident_message(self, session: Session, incident: Incident) -> dict[str, Any]:
        links = self.report_links
        report = links.url_for(session, incident.id or 0) if links is not None else None
        try:
            return render.incident_message(incident_card(session, incident, report_url=report))
        except Exception:  # a rendering bug must not undo the change itself
            log.exception("could not render the Slack message of incident %s", incident.id)
            text = f"Incident #{incident.id} ({escape(incident.status)}): {escape(incident.title)}"
            return {"text": text}

    def _messages_for(self, session: Session, event: AuditEvent, incident: Incident) -> _Messages:
        action, payload = event.action, event.payload
        if action in UPDATE_ONLY:
            replies = []
            if action == "run.approved" and payload.get("via") == "policy":
                run = _run(session, event)
                replies.append(render.run_decided_reply(run, "approved", actor=event.actor))
            return _Messages(update=True, replies=replies)
        if action in INCIDENT_STATUS_EVENTS:
            reply = render.incident_status_reply(
                payload.get("from") or "open",
                action.split(".", 1)[1],
                event.actor,
                payload.get("reason"),
            )
            return _Messages(update=True, replies=[reply])
        if action == "run.proposed":
            return _Messages(update=True, replies=[render.run_proposed_reply(_run(session, event))])
        if action == "run.approve_recorded":
            run = _run(session, event)
            needed = 2 if run.approval_policy == "two_person" else 1
            remaining = max(0, needed - len(run.approvals))
            return _Messages(
                update=True, replies=[render.approval_recorded_reply(run, event.actor, remaining)]
            )
        if action in RUN_DECIDED_EVENTS:
            reply = render.run_decided_reply(
                _run(session, event),
                action.split(".", 1)[1],
                actor=event.actor,
                reason=payload.get("reason"),
            )
            return _Messages(update=True, replies=[reply])
        if action == "run.running":
            reply = render.run_started_reply(_run(session, event), worker=event.actor)
            return _Messages(update=True, replies=[reply])
        if action == "run.taken_over":
            text = (
                f"Run {event.entity_id} was taken over by {escape(event.actor)}: its worker "
                "stopped reporting; it is finished by applying it again (every step is "
                "idempotent)."
            )
            return _Messages(replies=[{"text": text}])
        if action == "run.step":
            return _Messages(replies=[render.run_step_reply(payload.get("step") or {})])
        if action in RUN_FINISHED_EVENTS:
            # Its steps were replied as they happened (`run.step`): only the outcome here.
            outcome = render.run_finished_reply(
                action.split(".", 1)[1], payload.get("reason") or "", [], run=_run(session, event)
            )
            return _Messages(update=True, replies=[outcome])
        return _Messages()


def enqueue(
    session: Session,
    channel: str,
    dedupe_key: str,
    kind: str,
    message: dict[str, Any],
    incident_id: int | None,
    *,
    group_id: int | None = None,
) -> OutboxMessage:
    """Write one outbox row in the caller's transaction (`group_id`: the incident's group,
    whose parent message a reply threads on)."""
    row = OutboxMessage(
        channel=channel,
        dedupe_key=dedupe_key,
        payload=message,
        kind=kind,
        incident_id=incident_id,
        group_id=group_id,
    )
    session.add(row)
    session.flush()
    return row


def _plain_event(event: AuditEvent) -> str:
    """A reply that needs no renderer: what happened, by whom."""
    entity = f"{escape(event.entity_type)} {event.entity_id}"
    return f"{escape(event.action)} by {escape(event.actor)} ({entity})"


def _incident_of(session: Session, event: AuditEvent) -> int | None:
    if event.entity_type == "incident":
        return int(event.entity_id)
    if event.entity_type == "playbook_run":
        run = session.get(PlaybookRun, int(event.entity_id))
        return run.incident_id if run else None
    return None


def _run(session: Session, event: AuditEvent) -> render.RunCard:
    run = session.get(PlaybookRun, int(event.entity_id))
    assert run is not None
    return run_card(session, run)


def _root_of(session: Session, incident_id: int) -> OutboxMessage | None:
    """The incident's message: its newest post that did not fail for good (None when every
    post failed, so the next event posts it anew)."""
    return session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.incident_id == incident_id,
            OutboxMessage.kind == "post",
            OutboxMessage.status != OutboxStatus.failed,
        )
        .order_by(col(OutboxMessage.id).desc())
    ).first()


def install_outbox_writer(store: Store, config: WardenConfig) -> None:
    """Make every audited change of `store` write its Slack messages to the outbox (when
    Slack is configured). Lives here, not in `daemon.slack.service`, so that a command that
    only writes the outbox (`warden scan`, `warden approve`) never loads slack_sdk."""
    if config.slack is None or config.slack.bot_token is None:
        return
    store.audit_hooks.append(SlackOutboxWriter(config.slack, ReportLinks.from_config(config)))
