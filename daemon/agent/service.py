"""When the agent runs, what it may write, and what is recorded.

- **Off** unless the config has `agent:` (enabled) and the key's environment variable is set;
  without the key, one log line says so and nothing else happens.
- **Proposing** (`propose`): for an active incident with no open run and no agent thread
  waiting. The graph (`agents.graph`) reads through `StoreContextTools`; its one write is
  `store_proposal`, which plans the chosen playbook against the data, refuses a plan that
  touches more partitions than `agent.max_partitions`, and stores a `PlaybookRun` of origin
  `agent`, approval `human` (never `auto`), requested by whoever asked (a person running
  `warden agent propose`, or `agent`). Who asked cannot be its only approver.
- **Revising** (`resume_decided`): when a person decides an agent's run, the waiting thread
  is resumed with the decision; a rejection with a reason yields a revised proposal, up to
  `agent.max_revisions`.
- **Recording**: every step the graph reports becomes an audit event on the incident
  (`agent.started`, `agent.proposed`, `agent.invalid` with the answer and why, `agent.failed`,
  `agent.escalated`, `agent.decided`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from agents.checkpoints import open_checkpointer
from agents.graph import AgentSettings, StoreRefused, build_graph
from agents.model_client import ModelSettings
from agents.policy import AgentPolicy, ValidProposal
from agents.run import resume, start, state, waiting_for
from daemon.agent.context import StoreContextTools
from daemon.config.models import WardenConfig
from daemon.remediation.proposals import (
    OPEN_RUN_STATUSES,
    create_run,
    incident_view,
    playbook_context,
)
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    Approval,
    AuditEvent,
    Incident,
    PlaybookRun,
    RunStatus,
)
from playbooks.base import PlanRefused
from playbooks.registry import get_playbook

log = logging.getLogger(__name__)

AGENT_ACTOR = "agent"


class AgentUnavailable(RuntimeError):
    """The agent is off (no `agent:` block, disabled, or no key); the message says which."""


@dataclass(frozen=True)
class AgentOutcome:
    incident_id: int
    thread_id: str
    outcome: str
    run_id: int | None
    events: list[dict[str, Any]]


def agent_settings(config: WardenConfig) -> AgentSettings:
    """The agent's settings; AgentUnavailable says why it is off."""
    agent = config.agent
    if agent is None or not agent.enabled:
        raise AgentUnavailable("the agent is off: add an `agent:` block to the config")
    key = os.environ.get(agent.api_key_env)
    if not key:
        raise AgentUnavailable(
            f"the agent is off: set {agent.api_key_env} to the model server's API key"
        )
    return AgentSettings(
        ModelSettings(
            agent.model,
            key,
            agent.base_url,
            timeout=agent.timeout.total_seconds(),
            max_tokens=agent.max_tokens,
        ),
        AgentPolicy(
            tuple(agent.allowlist),
            agent.max_batch_size,
            agent.max_synthetic_share,
            agent.max_partitions,
        ),
        agent.max_revisions,
    )


def checkpoint_target(config: WardenConfig, store: Store) -> str:
    assert config.agent is not None
    if config.agent.checkpoints:
        return config.agent.checkpoints
    if store.url.get_backend_name() == "postgresql":
        return store.url.render_as_string(hide_password=False)
    return str(Path(config.playbooks.work_root) / "agent-checkpoints.sqlite")


class AgentService:
    def __init__(self, store: Store, config: WardenConfig) -> None:
        self.store = store
        self.config = config
        self.settings = agent_settings(config)
        self.tools = StoreContextTools(store, config)

    def propose(self, incident_id: int, *, requested_by: str | None = None) -> AgentOutcome:
        """Run the agent for one incident until its proposal waits for a person (or it
        escalates, or fails); raises ValueError when the incident cannot take one."""
        thread_id = self._new_thread(incident_id, requested_by)

        store_proposal = partial(self._store_proposal, requested_by=requested_by or AGENT_ACTOR)
        try:
            with open_checkpointer(checkpoint_target(self.config, self.store)) as saver:
                graph = build_graph(self.tools, self.settings, store_proposal, saver)
                final = start(graph, incident_id, thread_id)
                run_id = waiting_for(graph, thread_id)
        except Exception as error:  # the store, the data or the checkpointer failed
            log.exception("the agent failed on incident %s", incident_id)
            failed = [{"event": "agent.failed", "reason": f"{type(error).__name__}: {error}"}]
            self._record(incident_id, thread_id, failed)
            return AgentOutcome(incident_id, thread_id, "failed", None, failed)
        events = list(final.get("events", []))
        self._record(incident_id, thread_id, events)
        return AgentOutcome(incident_id, thread_id, final.get("outcome", ""), run_id, events)

    def resume_decided(self) -> list[AgentOutcome]:
        """Resume every thread whose run a person (or expiry) has decided."""
        outcomes = []
        for incident_id, run_id, thread_id, decision, reason, requested_by in self._decided():
            store_proposal = partial(self._store_proposal, requested_by=requested_by)
            try:
                with open_checkpointer(checkpoint_target(self.config, self.store)) as saver:
                    graph = build_graph(self.tools, self.settings, store_proposal, saver)
                    if waiting_for(graph, thread_id) != run_id:
                        continue  # resumed already (by this daemon or another)
                    before = len(state(graph, thread_id).get("events", []))
                    final = resume(graph, thread_id, decision, reason)
                    waiting = waiting_for(graph, thread_id)
            except Exception as error:  # recorded once; the run is not retried (see _decided)
                log.exception("the agent failed to follow up run %s", run_id)
                failed = {"event": "agent.failed", "run_id": run_id}
                self._record(incident_id, thread_id, [{**failed, "reason": str(error)}])
                continue
            events = list(final.get("events", []))[before:]
            self._record(incident_id, thread_id, events)
            outcomes.append(
                AgentOutcome(incident_id, thread_id, final.get("outcome", ""), waiting, events)
            )
        return outcomes

    def _new_thread(self, incident_id: int, requested_by: str | None) -> str:
        with self.store.session() as session:
            # Locked: two replicas (or a person and the daemon) never start on one incident
            # at once, and the thread number below is taken under the lock.
            incident = session.exec(
                select(Incident).where(Incident.id == incident_id).with_for_update()
            ).first()
            if incident is None:
                raise ValueError(f"there is no incident {incident_id}")
            if incident.status not in ACTIVE_INCIDENT_STATUSES:
                raise ValueError(f"incident {incident_id} is {incident.status}: nothing to fix")
            open_run = _open_run(session, incident_id)
            if open_run is not None:
                raise ValueError(
                    f"incident {incident_id} already has run {open_run} open: decide it first"
                )
            started = session.exec(
                select(AuditEvent.seq).where(
                    AuditEvent.action == "agent.started",
                    AuditEvent.entity_id == str(incident_id),
                )
            ).all()
            if started and requested_by is None:
                raise ValueError(f"the agent has already looked at incident {incident_id}")
            thread_id = f"incident-{incident_id}-{len(started) + 1}"
            append_audit(
                session,
                actor=requested_by or AGENT_ACTOR,
                action="agent.started",
                entity_type="incident",
                entity_id=str(incident_id),
                payload={"thread_id": thread_id, "model": self.settings.model.model},
            )
        return thread_id

    def _store_proposal(self, incident_id: int, proposal: ValidProposal, requested_by: str) -> int:
        playbook = get_playbook(proposal.playbook)
        # Planning reads the data: outside the write transaction, as `plan_again` does.
        with self.store.session(readonly=True) as session:
            incident = session.get(Incident, incident_id)
        if incident is None or incident.status not in ACTIVE_INCIDENT_STATUSES:
            raise StoreRefused(f"incident {incident_id} is no longer active")
        try:
            plan = playbook.plan(
                incident_view(incident),
                playbook.parse_params(proposal.params),
                playbook_context(self.config, incident.dataset),
            )
        except PlanRefused as error:
            raise StoreRefused(f"{proposal.playbook} cannot plan: {error}") from None
        touched = {step.target for step in plan.steps}
        bound = self.settings.policy.max_partitions
        if len(touched) > bound:
            raise StoreRefused(
                f"the plan touches {len(touched)} files or partitions, over the policy bound "
                f"{bound}"
            )
        with self.store.session() as session:
            locked = session.exec(
                select(Incident).where(Incident.id == incident_id).with_for_update()
            ).first()
            if locked is None or locked.status not in ACTIVE_INCIDENT_STATUSES:
                raise StoreRefused(f"incident {incident_id} is no longer active")
            if _open_run(session, incident_id) is not None:
                raise StoreRefused(f"incident {incident_id} got another open run meanwhile")
            run = create_run(
                session,
                incident_id,
                plan,
                "human",
                actor=AGENT_ACTOR,
                origin="agent",
                requested_by=requested_by,
            )
            assert run.id is not None
            return run.id

    def _decided(self) -> list[tuple[int, int, str, str, str | None, str]]:
        """(incident, run, thread, decision, reason, requested_by) of agent runs that left
        `proposed` and whose thread may be waiting for them."""
        with self.store.session(readonly=True) as session:
            runs = session.exec(
                select(PlaybookRun).where(
                    PlaybookRun.origin == "agent",
                    col(PlaybookRun.status).not_in([RunStatus.proposed.value]),
                )
            ).all()
            resumed = {
                event.payload.get("run_id")
                for event in session.exec(
                    select(AuditEvent).where(
                        col(AuditEvent.action).in_(["agent.decided", "agent.failed"])
                    )
                ).all()
            }
            found = []
            for run in runs:
                if run.id in resumed:
                    continue
                proposed = session.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == "agent.proposed",
                        AuditEvent.entity_id == str(run.incident_id),
                    )
                ).all()
                threads = [
                    e.payload["thread_id"] for e in proposed if e.payload.get("run_id") == run.id
                ]
                if not threads:
                    continue
                rejection = session.exec(
                    select(Approval).where(Approval.run_id == run.id, Approval.decision == "reject")
                ).first()
                decision = "reject" if run.status == RunStatus.rejected else run.status
                found.append(
                    (
                        run.incident_id,
                        run.id or 0,
                        threads[0],
                        decision,
                        rejection.reason if rejection else None,
                        run.requested_by or AGENT_ACTOR,
                    )
                )
        return found

    def _record(self, incident_id: int, thread_id: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self.store.session() as session:
            for event in events:
                kind = str(event["event"]).removeprefix("agent.")
                details = {k: v for k, v in event.items() if k != "event"}
                append_audit(
                    session,
                    actor=AGENT_ACTOR,
                    action=f"agent.{kind}",
                    entity_type="incident",
                    entity_id=str(incident_id),
                    payload={"thread_id": thread_id, **details},
                )


def _open_run(session: Any, incident_id: int) -> int | None:
    return session.exec(
        select(PlaybookRun.id).where(
            PlaybookRun.incident_id == incident_id,
            col(PlaybookRun.status).in_([s.value for s in OPEN_RUN_STATUSES]),
        )
    ).first()


def incidents_for_agent(store: Store) -> list[int]:
    """Active, unsilenced incidents that no route covers (`rule: none`) and that the agent
    has not looked at yet; the daemon's own `scheduler/...` incidents are not data problems
    and are left to people."""
    with store.session(readonly=True) as session:
        active = session.exec(
            select(Incident).where(
                col(Incident.status).in_(ACTIVE_INCIDENT_STATUSES),
                col(Incident.silenced_by).is_(None),
            )
        ).all()
        seen = set(
            session.exec(
                select(AuditEvent.entity_id).where(AuditEvent.action == "agent.started")
            ).all()
        )
    return [
        incident.id or 0
        for incident in active
        if (incident.route or {}).get("rule") == "none"
        and not incident.monitor.startswith("scheduler/")
        and str(incident.id) not in seen
    ]
