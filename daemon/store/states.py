"""The allowed values of the store's status and phase columns (explicit state machines).

Statuses are stored as plain strings (portable, readable in SQL). This module is light (no
SQLModel) so the CLI can list the values in its help without loading the store;
`daemon.store.models` re-exports every enum.
"""

from __future__ import annotations

from enum import StrEnum


class ScanStatus(StrEnum):
    running = "running"
    ok = "ok"
    alert = "alert"
    error = "error"
    insufficient_data = "insufficient_data"


class IncidentStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    remediating = "remediating"
    resolved = "resolved"
    closed = "closed"


class RunStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    rolled_back = "rolled_back"
    rejected = "rejected"
    expired = "expired"


class RunPhase(StrEnum):
    """What a `running` run is doing, stored so that a worker taking the run over resumes
    it (`daemon.remediation.run_phases`): it re-applies only while `applying`."""

    applying = "applying"
    verifying = "verifying"
    rolling_back = "rolling_back"


class ProposalStatus(StrEnum):
    """Where a proposal request is (`daemon.remediation.proposal_queue` moves it)."""

    #: Waiting to be planned (at `next_attempt_at`).
    pending = "pending"
    #: Claimed by a planner (`claimed_by`), which is planning it now.
    planning = "planning"
    #: Planned: `run_id` is the proposed run.
    proposed = "proposed"
    #: The playbook refused to plan, or nothing was left to plan; `last_error` says why.
    refused = "refused"
    #: Planning kept failing; gave up after the last attempt (`last_error`).
    failed = "failed"
    #: The incident resolved, closed or was silenced before it was planned.
    cancelled = "cancelled"


class OutboxStatus(StrEnum):
    pending = "pending"
    #: Handed to Slack; if the process died before `sent`, the dispatcher looks the message
    #: up (by its metadata) before posting again.
    sending = "sending"
    sent = "sent"
    #: Slack refused it for good (a missing channel, bad credentials); `last_error` says why.
    failed = "failed"
    #: An update overtaken by a newer update of the same message before it was sent.
    superseded = "superseded"


class AgentThreadStatus(StrEnum):
    """Where an agent thread stands (`daemon.agent.threads`)."""

    running = "running"  # the graph is at work: started, or resumed with a decision
    waiting = "waiting"  # its proposal, `run_id`, waits for a person
    done = "done"  # the graph ended (escalated, closed, nothing to propose)
    failed = "failed"  # the graph raised; recorded once, not retried
