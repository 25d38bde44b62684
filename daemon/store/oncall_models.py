"""On-call tables (migration 0017): incident groups and escalation firings.

An `IncidentGroup` is the incidents of one dataset routed to one channel that opened in the
same scan time (or within `incidents.group_window` of the first): one Slack parent message
and one page stand for all of them. Its `status` is a stored state machine
(`daemon.incidents.group_lifecycle`): `open` while some member is unacknowledged,
`acknowledged` once every unresolved member is, `closed` when all are resolved or closed
(final). `held_since` is set while every open member is silenced: the escalation clock is
paused then, and `held_seconds` keeps the time held before.

An `EscalationFiring` is one step of a group's escalation that fired: unique per (group,
generation, step, reminder), so replicas that find the same step due fire it once (the
second insert fails), as they do scan ticks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from daemon.store.columns import stamp_column, time_column

_ACCEPTING_SQL = "accepting"


class IncidentGroup(SQLModel, table=True):
    __tablename__ = "incident_group"
    __table_args__ = (
        # At most one group of a (dataset, channel) takes new members: two replicas scanning
        # two monitors of one dataset at the same time join one group, not two.
        Index(
            "uq_incident_group_accepting",
            "dataset",
            "channel",
            unique=True,
            sqlite_where=text(_ACCEPTING_SQL),
            postgresql_where=text(_ACCEPTING_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset: str = Field(max_length=200, index=True)
    #: The Slack channel its members are routed to ("" without Slack).
    channel: str = Field(default="", max_length=200)
    #: The escalation policy that matched its first member ("" for none).
    policy: str = Field(default="", max_length=100)
    #: Scan time of its first member, and the last scan time that still joins it.
    opened_at: datetime = stamp_column()
    accepting_until: datetime = stamp_column()
    accepting: bool = Field(default=True)
    lead_incident_id: int = Field(index=True)
    #: `open` | `acknowledged` | `closed` (`daemon.incidents.group_lifecycle`).
    status: str = Field(default="open", max_length=20, index=True)
    #: When its escalation started: the recording time of its first member (not the scan
    #: time, so a replayed scan does not fire every step at once); bumped on reopening.
    escalation_started_at: datetime = stamp_column()
    #: Set while every open member is silenced; the clock is paused.
    held_since: datetime | None = time_column()
    #: Seconds held before `held_since` (or in total when not held).
    held_seconds: float = Field(default=0.0)
    acknowledged_at: datetime | None = time_column()
    closed_at: datetime | None = time_column()
    #: Bumped when an acknowledged group gets an unacknowledged member: its steps fire anew.
    generation: int = Field(default=0)
    #: The `dedup_key` its PagerDuty alert carries (the lead incident's fingerprint).
    page_dedup_key: str | None = Field(default=None, max_length=255)
    created_at: datetime = stamp_column()


class EscalationFiring(SQLModel, table=True):
    __tablename__ = "escalation_firing"
    __table_args__ = (
        UniqueConstraint(
            "group_id", "generation", "step", "reminder", name="uq_escalation_firing_step"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(index=True)
    generation: int = Field(default=0)
    #: The step's index in the policy, or -1 for a reminder.
    step: int
    #: The reminder's number (1, 2, ...), 0 for a step.
    reminder: int = Field(default=0)
    policy: str = Field(max_length=100)
    #: `page` | `notify` | `mention` | `remind`.
    action: str = Field(max_length=20)
    fired_at: datetime = stamp_column()
    fired_by: str = Field(max_length=200)
