"""Acting on stored Slack interactions: authorise, decide, tell.

Each pending `slack_interaction` row is handled once, in one transaction that locks it
(`SKIP LOCKED`, so replicas share the work) together with the change it makes: an approval
or rejection through `daemon.remediation.approvals.decide` (the same rules as the CLI and the
HTTP API:
bound to the plan hash, expiry, two people for `two_person`, one decision however many
clicks), or a 24-hour silence. The messages it causes are outbox rows of that transaction.

Someone who may not decide (not an approver, another workspace) gets an ephemeral refusal;
nothing else changes, and the refusal is audited (`slack.refused`). A decision that cannot
be taken (the run was decided already, the plan changed) is told the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from sqlmodel import Session, col, select

from daemon.config.models import WardenConfig
from daemon.incidents.group_lifecycle import members_of
from daemon.incidents.lifecycle import TransitionRefused, change_status
from daemon.incidents.silences import add_silence, covering_silence
from daemon.remediation.approvals import Decision, DecisionRefused, decide, plan_again
from daemon.slack import render
from daemon.slack.approvers import ApproverCheck, SlackUnavailable, Verdict
from daemon.slack.interactions import Interaction, MalformedInteraction, parse
from daemon.slack.outbox_writer import enqueue
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import (
    Incident,
    IncidentStatus,
    PlaybookRun,
    RunStatus,
    SlackInteraction,
)
from daemon.store.oncall_models import IncidentGroup
from daemon.store.types import utcnow
from playbooks.base import Plan, PlanRefused

log = logging.getLogger(__name__)

#: How long "Silence 24h" silences the incident's monitor, dataset and pattern.
SILENCE_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Handled:
    interaction_id: int
    status: str  # done | refused
    message: str


class ActionProcessor:
    def __init__(self, store: Store, config: WardenConfig, client: WebClient) -> None:
        assert config.slack is not None
        self.store = store
        self.config = config
        self.approvers = ApproverCheck(client, config.slack)

    def process_pending(self) -> list[Handled]:
        """Handle every pending interaction; those whose check needs Slack while it is
        unreachable stay pending for the next call. One that fails (the data cannot be read
        to re-plan, a bug) is marked `failed`, audited and told, and never blocks the rest."""
        with self.store.session(readonly=True) as session:
            pending = session.exec(
                select(SlackInteraction)
                .where(SlackInteraction.status == "pending")
                .order_by(col(SlackInteraction.id))
            ).all()
        handled = []
        for row in pending:
            try:
                verdict = self.approvers.check(row.user_id, row.team_id)
            except SlackUnavailable as error:
                log.warning("Slack interaction %s waits: %s", row.id, error)
                continue
            try:
                replanned = self._replan(row) if verdict.allowed else None
                result = self._handle(row.id or 0, verdict, replanned)
            except Exception as error:  # one bad click must not stop the rest
                log.exception("Slack interaction %s failed", row.id)
                result = self._fail(row.id or 0, f"{type(error).__name__}: {error}")
            if result is not None:
                handled.append(result)
        return handled

    def _replan(self, row: SlackInteraction) -> Plan | PlanRefused | None:
        """The run's plan made now, before the transaction (reading data takes no lock)."""
        interaction = parse(row.payload)
        if interaction is None or interaction.action != "approve":
            return None
        run_id = _int(interaction.value.get("run"))
        return plan_again(self.store, self.config, run_id) if run_id is not None else None

    def _handle(
        self, interaction_id: int, verdict: Verdict, replanned: Plan | PlanRefused | None
    ) -> Handled | None:
        with self.store.session() as session:
            row = self._lock_pending(session, interaction_id)
            if row is None:
                return None  # another replica has it
            interaction = parse(row.payload)
            if interaction is None:
                raise MalformedInteraction("the stored payload is not a Warden interaction")
            if not verdict.allowed:
                status, message = self._refuse(session, row, interaction, verdict.reason)
            else:
                status, message = self._act(session, row, interaction, replanned)
            row.status, row.result, row.processed_at = status, message, utcnow()
            session.add(row)
            return Handled(row.id or 0, status, message)

    def _fail(self, interaction_id: int, error: str) -> Handled | None:
        with self.store.session() as session:
            row = self._lock_pending(session, interaction_id)
            if row is None:
                return None
            try:
                interaction = parse(row.payload)
            except MalformedInteraction:  # stored before the checks were as strict
                interaction = None
            append_audit(
                session,
                actor=f"slack:{row.user_id}",
                action="slack.failed",
                entity_type="slack_interaction",
                entity_id=str(row.id),
                payload={"action": row.action, "error": error},
            )
            if interaction is not None:
                self._tell(
                    session,
                    row,
                    interaction,
                    render.refusal_text(f"Warden could not do that ({error}); try again later"),
                )
            row.status, row.result, row.processed_at = "failed", error, utcnow()
            session.add(row)
            return Handled(row.id or 0, "failed", error)

    @staticmethod
    def _lock_pending(session: Session, interaction_id: int) -> SlackInteraction | None:
        row = session.exec(
            select(SlackInteraction)
            .where(SlackInteraction.id == interaction_id)
            .with_for_update(skip_locked=True)
        ).first()
        return row if row is not None and row.status == "pending" else None

    def _act(
        self,
        session: Session,
        row: SlackInteraction,
        interaction: Interaction,
        replanned: Plan | PlanRefused | None,
    ) -> tuple[str, str]:
        actor = f"slack:{interaction.user_id}"
        if interaction.action == "reject":
            return "done", "the reject dialog was opened; the decision comes with its reason"
        if interaction.action == "silence":
            return self._silence(session, row, interaction, actor)
        if interaction.action == "acknowledge":
            return self._acknowledge(session, row, interaction, actor)
        if interaction.action == "acknowledge_group":
            return self._acknowledge_group(session, row, interaction, actor)
        run_id = _int(interaction.value.get("run"))
        run = session.get(PlaybookRun, run_id) if run_id is not None else None
        if run is None:
            return self._refuse(session, row, interaction, "that run does not exist")
        if interaction.value.get("hash") != run.plan_hash:
            return self._refuse(
                session,
                row,
                interaction,
                f"this message shows another plan than run {run.id}'s; nothing was decided",
            )
        decision: Decision = "approve" if interaction.action == "approve" else "reject"
        try:
            outcome = decide(
                session,
                self.config,
                run.id or 0,
                decision,
                actor=actor,
                via="slack",
                reason=interaction.reason,
                replanned=replanned,
            )
        except DecisionRefused as error:
            return self._refuse(session, row, interaction, str(error))
        if outcome.status == RunStatus.expired:
            # Nothing was decided: the proposal had expired or its plan changed (a new run
            # is proposed in the thread); the person who clicked is told which.
            self._tell(session, row, interaction, render.refusal_text(outcome.message))
            return "refused", outcome.message
        return "done", outcome.message

    def _acknowledge(
        self, session: Session, row: SlackInteraction, interaction: Interaction, actor: str
    ) -> tuple[str, str]:
        """Acknowledge the incident: its message says who (a reply), its group's escalation
        stops once every open member is acknowledged, and a paged alert is acknowledged."""
        incident_id = _int(interaction.value.get("incident"))
        if incident_id is None:
            return self._refuse(session, row, interaction, "that incident does not exist")
        try:
            with session.begin_nested():
                change_status(session, incident_id, IncidentStatus.acknowledged, actor=actor)
        except TransitionRefused as error:
            return self._refuse(session, row, interaction, str(error))
        return "done", f"incident {incident_id} acknowledged"

    def _acknowledge_group(
        self, session: Session, row: SlackInteraction, interaction: Interaction, actor: str
    ) -> tuple[str, str]:
        """Acknowledge every open incident of the group (those already acknowledged or over
        are left as they are); refused when none is open."""
        group_id = _int(interaction.value.get("group"))
        group = session.get(IncidentGroup, group_id) if group_id is not None else None
        if group is None:
            return self._refuse(session, row, interaction, "that incident group does not exist")
        still_open = [m.id or 0 for m in members_of(session, group.id or 0) if m.status == "open"]
        if not still_open:
            return self._refuse(
                session, row, interaction, f"no incident of group {group.id} is open any more"
            )
        for incident_id in still_open:
            change_status(session, incident_id, IncidentStatus.acknowledged, actor=actor)
        listed = ", ".join(f"#{incident_id}" for incident_id in still_open)
        return "done", f"acknowledged {listed}"

    def _silence(
        self, session: Session, row: SlackInteraction, interaction: Interaction, actor: str
    ) -> tuple[str, str]:
        incident_id = _int(interaction.value.get("incident"))
        incident = session.get(Incident, incident_id) if incident_id is not None else None
        if incident is None:
            return self._refuse(session, row, interaction, "that incident does not exist")
        now = utcnow()
        already = covering_silence(
            session,
            at=now,
            monitor=incident.monitor,
            dataset=incident.dataset,
            pattern=incident.pattern,
            maintenance=(),
        )
        if already is not None:
            return self._refuse(
                session, row, interaction, f"incident {incident.id} is already silenced ({already})"
            )
        silence = add_silence(
            session,
            created_by=actor,
            reason=f"Silence 24h from Slack on incident {incident.id}",
            starts_at=now,
            ends_at=now + SILENCE_FOR,
            dataset=incident.dataset,
            monitor=incident.monitor,
            pattern=incident.pattern,
        )
        incident.silenced_by = f"silence:{silence.id}"
        session.add(incident)
        append_audit(  # also updates the incident's message (its Silence button goes)
            session,
            actor=actor,
            action="incident.silenced",
            entity_type="incident",
            entity_id=str(incident.id),
            payload={"by": incident.silenced_by, "at": now.isoformat()},
        )
        reply = render.silenced_reply(interaction.user_id or "", now + SILENCE_FOR)
        channel = (incident.route or {}).get("channel") or (
            self.config.slack and self.config.slack.channel
        )
        if channel:
            enqueue(
                session,
                channel,
                f"interaction:{row.id}:silenced",
                "reply",
                reply if isinstance(reply, dict) else {"text": str(reply)},
                incident.id,
                group_id=incident.group_id,
            )
        return "done", f"silence {silence.id} until {(now + SILENCE_FOR).isoformat()}"

    def _refuse(
        self, session: Session, row: SlackInteraction, interaction: Interaction, reason: str
    ) -> tuple[str, str]:
        append_audit(
            session,
            actor=f"slack:{interaction.user_id}",
            action="slack.refused",
            entity_type="slack_interaction",
            entity_id=str(row.id),
            payload={"action": interaction.action, "reason": reason, "value": interaction.value},
        )
        self._tell(session, row, interaction, render.refusal_text(reason))
        return "refused", reason

    def _tell(
        self, session: Session, row: SlackInteraction, interaction: Interaction, text: object
    ) -> None:
        """An ephemeral message to the person who clicked, where they clicked."""
        if not interaction.channel_id or not interaction.user_id:
            return
        message = text if isinstance(text, dict) else {"text": str(text)}
        enqueue(
            session,
            interaction.channel_id,
            f"interaction:{row.id}:ephemeral",
            "ephemeral",
            {**message, "user": interaction.user_id},
            None,
        )


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None
