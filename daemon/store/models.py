"""The records Warden keeps (see DESIGN.md, "Core records").

Every table is append-or-update by the daemon only through `daemon.store` helpers; the schema
is owned by the Alembic migrations in `daemon/migrations`, which must be kept in step with
these classes (a test compares them).

Statuses are stored as plain strings (portable, readable in SQL); the enums below are the
allowed values (in `daemon.store.states`, which loads without SQLModel).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from daemon.store.asset_models import AssetRecord
from daemon.store.columns import json_column, stamp_column, time_column
from daemon.store.lineage_models import LineageEvent, LineageInput, LineageRun
from daemon.store.metric_models import MetricPoint
from daemon.store.oncall_models import EscalationFiring, IncidentGroup

# The enums are re-exported: callers import the allowed values of a column with its table.
from daemon.store.states import (  # noqa: F401
    AgentThreadStatus,
    IncidentStatus,
    OutboxStatus,
    ProposalStatus,
    RunPhase,
    RunStatus,
    ScanStatus,
)
from daemon.store.types import JSONType, UTCDateTime
from daemon.store.version_models import DatasetVersionRecord

#: Incident statuses that count as "still a problem": at most one incident per fingerprint
#: may be in one of these at a time (enforced by a partial unique index).
ACTIVE_INCIDENT_STATUSES = ("open", "acknowledged", "remediating")
_ACTIVE_SQL = "status IN ('open', 'acknowledged', 'remediating')"


class Monitor(SQLModel, table=True):
    """A monitor as last loaded from the config (the config is the source of truth)."""

    __tablename__ = "monitor"

    name: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=50)
    dataset: str = Field(max_length=200)
    config: dict[str, Any] = json_column()
    config_hash: str = Field(max_length=64)
    updated_at: datetime = stamp_column()


class ScanRun(SQLModel, table=True):
    """One monitor evaluated at one scheduled time.

    Unique on (monitor, scheduled_for) so that replicas sharing a store never run a tick twice:
    claiming a tick is inserting this row.
    """

    __tablename__ = "scan_run"
    __table_args__ = (UniqueConstraint("monitor", "scheduled_for", name="uq_scan_run_tick"),)

    id: int | None = Field(default=None, primary_key=True)
    monitor: str = Field(max_length=200, index=True)
    scheduled_for: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime = stamp_column()
    finished_at: datetime | None = time_column()
    #: Indexed (migration 0005): the reconciler looks for `running` rows every minute.
    status: str = Field(default=ScanStatus.running, max_length=30, index=True)
    claimed_by: str | None = Field(default=None, max_length=200)
    result: dict[str, Any] | None = json_column(nullable=True)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The id of the dataset version the scan read (`daemon.store.version_models`).
    dataset_version: str | None = Field(default=None, max_length=128)


class ReferenceProfile(SQLModel, table=True):
    """A cached profile of a reference window.

    `cache_key` is a hash of (dataset, window, columns, source fingerprint, profile schema
    version): a change to any of them misses the cache instead of serving a stale profile.
    """

    __tablename__ = "reference_profile"

    id: int | None = Field(default=None, primary_key=True)
    cache_key: str = Field(max_length=64, unique=True)
    dataset: str = Field(max_length=200, index=True)
    window_start: datetime | None = time_column()
    window_end: datetime | None = time_column()
    source_fingerprint: str = Field(max_length=64)
    schema_version: int = Field(default=1)
    profile: dict[str, Any] = json_column()
    created_at: datetime = stamp_column()


class Incident(SQLModel, table=True):
    """A problem, identified by its fingerprint (monitor, dataset, pattern, scope)."""

    __tablename__ = "incident"
    __table_args__ = (
        Index(
            "uq_incident_active_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, index=True)
    monitor: str = Field(max_length=200, index=True)
    dataset: str = Field(max_length=200, index=True)
    pattern: str = Field(max_length=100, index=True)
    scope: dict[str, Any] = json_column()
    severity: str = Field(default="warning", max_length=20)
    status: str = Field(default=IncidentStatus.open, max_length=20, index=True)
    title: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    first_seen: datetime = stamp_column(index=True)
    last_seen: datetime = stamp_column()
    occurrences: int = Field(default=1)
    clean_streak: int = Field(default=0)
    evidence: dict[str, Any] = json_column()
    previous_incident_id: int | None = Field(default=None, foreign_key="incident.id")
    #: The newest scan time applied to this incident; older or equal scans (replays, re-runs)
    #: neither count an occurrence nor a clean scan (migration 0002).
    last_checked_at: datetime | None = time_column()
    acknowledged_at: datetime | None = time_column()
    resolved_at: datetime | None = time_column()
    closed_reason: str | None = Field(default=None, max_length=200)
    #: When a person closed it (migration 0003); `false_alarm` when they said it was one.
    closed_at: datetime | None = time_column()
    false_alarm: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    #: The routing decision (`daemon.incidents.routing.RouteDecision.to_dict`), set when it opens.
    route: dict[str, Any] | None = json_column(nullable=True)
    #: The silence or maintenance window that covered its latest detection, if any: the
    #: detection is recorded, but nothing is routed or notified while it holds.
    silenced_by: str | None = Field(default=None, max_length=200)
    #: The group it was routed in (`daemon.store.oncall_models.IncidentGroup`, migration
    #: 0017); None for incidents routed before groups existed, or never routed.
    group_id: int | None = Field(default=None, index=True)


class Silence(SQLModel, table=True):
    """A silence made at run time (CLI, Slack): detections it matches in [starts_at, ends_at)
    are recorded but not routed or notified. A matcher field left empty matches anything.
    Maintenance windows written in the config work the same way without a row here."""

    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    dataset: str | None = Field(default=None, max_length=200)
    monitor: str | None = Field(default=None, max_length=200)
    pattern: str | None = Field(default=None, max_length=100)
    starts_at: datetime = stamp_column()
    ends_at: datetime = stamp_column(index=True)
    created_by: str = Field(max_length=200)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = stamp_column()
    #: Set when someone ends the silence before `ends_at`.
    expired_at: datetime | None = time_column()


class PlaybookRun(SQLModel, table=True):
    """A proposed (then approved, executed...) playbook for an incident."""

    __tablename__ = "playbook_run"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    playbook: str = Field(max_length=100)
    params: dict[str, Any] = json_column()
    plan: dict[str, Any] = json_column()
    plan_hash: str = Field(max_length=64)
    origin: str = Field(default="rule", max_length=20)
    approval_policy: str = Field(default="human", max_length=20)
    status: str = Field(default=RunStatus.proposed, max_length=20, index=True)
    step_log: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    created_at: datetime = stamp_column()
    updated_at: datetime = stamp_column()
    heartbeat_at: datetime | None = time_column()
    claimed_by: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: Who asked for the proposal (migration 0004): the person who ran `warden agent
    #: propose`, for instance. They may not be its only approver.
    requested_by: str | None = Field(default=None, max_length=200)
    #: What a `running` run is doing (migration 0007, `RunPhase`); null otherwise.
    phase: str | None = Field(default=None, max_length=20)


#: Requests still to be planned: at most one per incident (a partial unique index).
OPEN_PROPOSAL_STATUSES = ("pending", "planning")
_OPEN_PROPOSAL_SQL = "status IN ('pending', 'planning')"


class ProposalRequest(SQLModel, table=True):
    """A note that an incident needs a proposal, written in the scan's transaction that routed it
    to a playbook (migration 0006); planned afterwards by whoever claims it."""

    __tablename__ = "proposal_request"
    __table_args__ = (
        Index(
            "uq_proposal_request_open_incident",
            "incident_id",
            unique=True,
            sqlite_where=text(_OPEN_PROPOSAL_SQL),
            postgresql_where=text(_OPEN_PROPOSAL_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    status: str = Field(default=ProposalStatus.pending, max_length=20, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = stamp_column()
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = time_column()
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    run_id: int | None = Field(default=None, foreign_key="playbook_run.id")
    created_at: datetime = stamp_column()
    updated_at: datetime = stamp_column()


class Approval(SQLModel, table=True):
    """One person's decision on one playbook run, bound to the plan hash they saw."""

    __tablename__ = "approval"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="playbook_run.id", index=True)
    actor: str = Field(max_length=200)
    via: str = Field(max_length=20)
    decision: str = Field(max_length=20)
    plan_hash: str = Field(max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = stamp_column()


class OutboxMessage(SQLModel, table=True):
    """A message to a person, written in the same transaction as the change it reports.

    `kind` is `post` (an incident's message), `update` (a new version of it), `reply` (in its
    thread) or `ephemeral` (to one person). Messages of one incident are delivered in id
    order; `external_id` holds the Slack `ts` once sent.
    """

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=200)
    dedupe_key: str = Field(max_length=200, unique=True)
    payload: dict[str, Any] = json_column()
    #: Migration 0004.
    kind: str = Field(default="post", max_length=20, sa_column_kwargs={"server_default": "post"})
    incident_id: int | None = Field(default=None, index=True)
    status: str = Field(default=OutboxStatus.pending, max_length=20, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = stamp_column()
    external_id: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = stamp_column()
    sent_at: datetime | None = time_column()
    #: Migration 0017: `slack` or `pagerduty` (each has its own dispatcher), and the incident
    #: group the row belongs to (its rows are delivered in order, after the group's parent).
    transport: str = Field(
        default="slack", max_length=20, index=True, sa_column_kwargs={"server_default": "slack"}
    )
    group_id: int | None = Field(default=None, index=True)


class SlackInteraction(SQLModel, table=True):
    """A click or form submission received from Slack (migration 0004), stored before it is
    acted on. Unique on `dedupe_key` (the user, the action and Slack's own timestamp), so a
    delivery Slack retries, or that reaches two replicas, is acted on once."""

    __tablename__ = "slack_interaction"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    #: `http` (the request URL) or `socket` (Socket Mode).
    source: str = Field(max_length=20)
    team_id: str | None = Field(default=None, max_length=50)
    user_id: str | None = Field(default=None, max_length=50)
    action: str = Field(max_length=50)
    payload: dict[str, Any] = json_column()
    received_at: datetime = stamp_column()
    #: pending -> done | refused | failed
    status: str = Field(default="pending", max_length=20, index=True)
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    processed_at: datetime | None = time_column()


class AuditEvent(SQLModel, table=True):
    """An append-only, hash-chained record of one state change.

    `hash` = sha256 over the canonical JSON of (seq, at, actor, action, entity, payload,
    prev_hash); see `daemon.store.audit`.
    """

    __tablename__ = "audit_event"

    # Assigned by `append_audit` (tail + 1, under a lock), never by a database sequence: the
    # hash covers seq, so it must be known before the insert, and a sequence would leave gaps
    # on rollback that `verify_audit_chain` would rightly report as deleted events.
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = stamp_column(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=100, index=True)
    entity_type: str = Field(max_length=50)
    entity_id: str = Field(max_length=100, index=True)
    # Plain JSON, not JSONB, on PostgreSQL: JSONB rewrites numbers (1e16 comes back as the
    # integer 10000000000000000), which would change the canonical text and break the hash.
    # JSON keeps the text exactly as written; audit payloads are never queried by content.
    payload: dict[str, Any] = Field(sa_column=Column(JSON(), nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    #: The id of the key whose HMAC `hash` is (migration 0009); null for plain sha256.
    key_id: str | None = Field(default=None, max_length=16)


class DaemonInstance(SQLModel, table=True):
    """One `warden run` process (migration 0005): who it is and whether it is still alive.

    Registered at start, its `heartbeat_at` refreshed every `HEARTBEAT_SECONDS` while it runs,
    `stopped_at` set when it stops (or when another replica finds it silent and presumes it
    dead). The reconciler reads this table to tell a scan that is still running from one
    whose daemon died.
    """

    __tablename__ = "daemon_instance"

    identity: str = Field(primary_key=True, max_length=200)
    host: str = Field(max_length=200)
    pid: int
    version: str = Field(max_length=50)
    started_at: datetime = stamp_column()
    heartbeat_at: datetime = stamp_column(index=True)
    stopped_at: datetime | None = time_column()
    #: Why it stopped: `shutdown` (SIGTERM or Ctrl-C), `presumed_dead` (found silent).
    stop_reason: str | None = Field(default=None, max_length=50)


class StoreIdentity(SQLModel, table=True):
    """The store's own random id (migration 0008): one row, id 1. Warden's work_root names
    the store it belongs to with it (`daemon.remediation.work_root`)."""

    __tablename__ = "store_identity"
    __table_args__ = (CheckConstraint("id = 1", name="ck_store_identity_one_row"),)

    id: int = Field(default=1, primary_key=True)
    store_id: str = Field(max_length=64)
    created_at: datetime = stamp_column()


class ApiToken(SQLModel, table=True):
    """A person's bearer token for the HTTP API (migration 0010; `daemon.store.api_tokens`).

    Only the sha256 (hex) of the secret is kept: `warden tokens create` shows the secret
    once. A token decides as `api:<person>`; revoking it sets `revoked_at` (the row stays,
    so the audit trail's token names keep their meaning, and a name is never reused).
    `last_used_at` is refreshed at most once a minute.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    person: str = Field(max_length=100, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = stamp_column()
    created_by: str = Field(max_length=200)
    revoked_at: datetime | None = time_column()
    revoked_by: str | None = Field(default=None, max_length=200)
    last_used_at: datetime | None = time_column()


class ReportLinkKey(SQLModel, table=True):
    """The key signing report links when `WARDEN_LINK_KEY` is not set (migration 0010): one
    row, id 1, 32 random bytes in hex, made with the store (`daemon.reporting.report_links`)."""

    __tablename__ = "report_link_key"
    __table_args__ = (CheckConstraint("id = 1", name="ck_report_link_key_one_row"),)

    id: int = Field(default=1, primary_key=True)
    key: str = Field(max_length=64)
    created_at: datetime = stamp_column()


class AgentThread(SQLModel, table=True):
    """One conversation of the agent about one incident (migration 0011): which incident,
    its number there, who asked, and where it stands. The graph's own state lives in the
    checkpointer; this row is what the daemon queries to know which threads wait for a
    decided run and which incidents the agent has looked at."""

    __tablename__ = "agent_thread"
    __table_args__ = (UniqueConstraint("incident_id", "number"),)

    thread_id: str = Field(primary_key=True, max_length=100)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    #: 1 for the incident's first thread, 2 for the next one a person asks for, ...
    number: int
    requested_by: str = Field(max_length=200)
    status: str = Field(default=AgentThreadStatus.running, max_length=20, index=True)
    #: The run its latest proposal made (the one it waits for while `waiting`).
    run_id: int | None = Field(default=None, foreign_key="playbook_run.id", index=True)
    #: The graph's last outcome (`proposed`, `escalated`, `closed:...`) or why it failed.
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = stamp_column()
    updated_at: datetime = stamp_column()


class CompiledQueryPlan(SQLModel, table=True):
    """A query compiled by an earlier process, kept so that the next need not build it
    (migration 0012; `daemon.scan.plan_archive`). `plan_id` names the table identity, the
    plan key, the bound parameters and the code version (`detectors.plan_records`);
    `record` is the plan as JSON text (SQL, sentinel literals, column names), stored as
    text so that nothing rewrites the SQL. Rows of another code version are deleted by
    the first process of a new version that saves a plan."""

    __tablename__ = "compiled_query"

    plan_id: str = Field(primary_key=True, max_length=64)
    identity_id: str = Field(max_length=64, index=True)
    code_version: str = Field(max_length=32, index=True)
    record: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = stamp_column()


ALL_TABLES = (
    Monitor,
    ScanRun,
    ReferenceProfile,
    Incident,
    Silence,
    PlaybookRun,
    ProposalRequest,
    Approval,
    OutboxMessage,
    SlackInteraction,
    DaemonInstance,
    StoreIdentity,
    ApiToken,
    ReportLinkKey,
    AgentThread,
    CompiledQueryPlan,
    AuditEvent,
    AssetRecord,
    DatasetVersionRecord,
    LineageEvent,
    LineageRun,
    LineageInput,
    MetricPoint,
    IncidentGroup,
    EscalationFiring,
)
