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
from daemon.agent.threads import (
    DecidedThread,
    claim_decided,
    claim_stale,
    settle,
    start_thread,
    threads_started,
)
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
    Incident,
    PlaybookRun,
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
            reason = f"{type(error).__name__}: {error}"
            failed = [{"event": "agent.failed", "reason": reason}]
            self._record(incident_id, thread_id, failed)
            settle(self.store, thread_id, waiting_for=None, outcome=reason, failed=True)
            return AgentOutcome(incident_id, thread_id, "failed", None, failed)
        events = list(final.get("events", []))
        self._record(incident_id, thread_id, events)
        outcome = final.get("outcome", "")
        settle(self.store, thread_id, waiting_for=run_id, outcome=outcome)
        return AgentOutcome(incident_id, thread_id, outcome, run_id, events)

    def resume_decided(self) -> list[AgentOutcome]:
        """Resume every thread whose run a person (or expiry) has decided; first settle the
        threads a dead process left `running` (`daemon.agent.threads.claim_stale`)."""
        self._settle_stale()
        outcomes = []
        for decided in claim_decided(self.store):
            outcome = self._resume(decided)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _resume(self, decided: DecidedThread) -> AgentOutcome | None:
        incident_id, thread_id = decided.incident_id, decided.thread_id
        store_proposal = partial(self._store_proposal, requested_by=decided.requested_by)
        try:
            with open_checkpointer(checkpoint_target(self.config, self.store)) as saver:
                graph = build_graph(self.tools, self.settings, store_proposal, saver)
                waiting = waiting_for(graph, thread_id)
                if waiting != decided.run_id:
                    # Resumed already, by a process that died before settling the thread.
                    settle(self.store, thread_id, waiting_for=waiting, outcome="recovered")
                    return None
                before = len(state(graph, thread_id).get("events", []))
                final = resume(graph, thread_id, decided.decision, decided.reason)
                waiting = waiting_for(graph, thread_id)
        except Exception as error:  # recorded once; the thread is not retried
            log.exception("the agent failed to follow up run %s", decided.run_id)
            reason = f"{type(error).__name__}: {error}"
            failed = {"event": "agent.failed", "run_id": decided.run_id, "reason": reason}
            self._record(incident_id, thread_id, [failed])
            settle(self.store, thread_id, waiting_for=None, outcome=reason, failed=True)
            return None
        events = list(final.get("events", []))[before:]
        self._record(incident_id, thread_id, events)
        outcome = final.get("outcome", "")
        settle(self.store, thread_id, waiting_for=waiting, outcome=outcome)
        return AgentOutcome(incident_id, thread_id, outcome, waiting, events)

    def _settle_stale(self) -> None:
        """Settle each thread a dead process left `running` from where its checkpoints say
        the graph stopped: waiting for a run (resumed once that run is decided), or ended."""
        for thread in claim_stale(self.store):
            try:
                with open_checkpointer(checkpoint_target(self.config, self.store)) as saver:
                    graph = build_graph(self.tools, self.settings, self._refuse_proposal, saver)
                    waiting = waiting_for(graph, thread.thread_id)
            except Exception as error:  # noqa: BLE001 - the checkpointer is away: next pass
                log.warning("agent thread %s stays running: %s", thread.thread_id, error)
                continue
            outcome = "recovered" if waiting is not None else "stopped: its process ended"
            settle(self.store, thread.thread_id, waiting_for=waiting, outcome=outcome)

    @staticmethod
    def _refuse_proposal(incident_id: int, proposal: ValidProposal) -> int:
        raise StoreRefused("a stale thread is only read, not run")

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
            thread_id = start_thread(
                session,
                incident_id,
                requested_by or AGENT_ACTOR,
                asked_by_person=requested_by is not None,
            )
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
        seen = threads_started(session)
    return [
        incident.id or 0
        for incident in active
        if (incident.route or {}).get("rule") == "none"
        and not incident.monitor.startswith("scheduler/")
        and incident.id not in seen
    ]
