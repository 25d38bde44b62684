"""What an incident's Slack message shows, as plain frozen records.

The daemon builds a card from the store (`IncidentCard.from_records`) and hands it to the
renderers in `daemon.slack.render`, which are pure: the same card always gives the same
message, so a message can be rebuilt and updated in place after every change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from daemon.config.routing import ApprovalPolicy
from daemon.slack.values import check_plan_hash
from daemon.store.models import (
    ACTIVE_INCIDENT_STATUSES,
    Incident,
    IncidentStatus,
    PlaybookRun,
    RunStatus,
)

Origin = Literal["rule", "agent"]
#: How many leading hex digits of a plan hash people are shown (as `git` shows commits).
SHORT_HASH_LENGTH = 12
#: The longest URL a Slack button takes.
MAX_URL_LENGTH = 3000


@dataclass(frozen=True)
class RunCard:
    """A playbook run as its incident message shows it.

    `summary` is the plan's summary; `plan_hash` the full sha256 (hex) an approval binds to;
    `approvals` the actors who have approved so far, oldest first (Slack user ids are shown
    as mentions).
    """

    run_id: int
    playbook: str
    status: str
    summary: str
    plan_hash: str
    approval_policy: str
    approvals: tuple[str, ...] = ()
    origin: str = "rule"

    def __post_init__(self) -> None:
        object.__setattr__(self, "approvals", tuple(self.approvals))
        _check_choice("run status", self.status, [s.value for s in RunStatus])
        _check_choice("approval policy", self.approval_policy, get_args(ApprovalPolicy))
        _check_choice("origin", self.origin, get_args(Origin))
        check_plan_hash(self.plan_hash)

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of the plan hash: what people compare."""
        return self.plan_hash[:SHORT_HASH_LENGTH]

    @property
    def approvals_needed(self) -> int:
        """Approvals by different people before the run is approved (an agent's `auto`
        proposal still needs one person)."""
        return 2 if self.approval_policy == "two_person" else 1

    @classmethod
    def from_run(cls, run: PlaybookRun, approvals: Iterable[str] = ()) -> RunCard:
        """The card of a stored run; `approvals` are the actors of its `approve` decisions
        for its current plan hash, oldest first."""
        return cls(
            run_id=run.id or 0,
            playbook=run.playbook,
            status=str(run.status),
            summary=str((run.plan or {}).get("summary", "")),
            plan_hash=run.plan_hash,
            approval_policy=run.approval_policy,
            approvals=tuple(approvals),
            origin=run.origin,
        )


@dataclass(frozen=True)
class IncidentCard:
    """An incident as its Slack message shows it.

    `findings` are the evidence's findings as stored (`pattern`, `column`, `method`,
    `statistic`, `threshold`, `p_value`, `alert`, `details`); the message shows the most
    significant alerting ones. `run` is the incident's latest playbook run, if any;
    `report_url` an http(s) link to its report; `silenced_by` the silence or maintenance
    window that holds it.
    """

    incident_id: int
    title: str
    severity: str
    status: str
    dataset: str
    monitor: str
    pattern: str
    scope: Mapping[str, Any]
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    findings: tuple[Mapping[str, Any], ...] = ()
    run: RunCard | None = None
    report_url: str | None = None
    silenced_by: str | None = None
    #: The dataset version its detection read, and the job runs (their jobs' names, a few)
    #: that read it or a later version (`daemon.slack.incident_cards.downstream_jobs`).
    dataset_version: str | None = None
    downstream_jobs: tuple[str, ...] = ()
    downstream_runs: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "findings", tuple(self.findings))
        object.__setattr__(self, "downstream_jobs", tuple(self.downstream_jobs))
        object.__setattr__(self, "scope", dict(self.scope or {}))
        _check_choice("incident status", self.status, [s.value for s in IncidentStatus])
        if self.report_url is not None:
            parts = urlsplit(self.report_url)
            # Slack refuses a whole message whose URL button is not a URL or is too long.
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"report_url must be an http(s) URL, not {self.report_url!r}")
            if len(self.report_url) > MAX_URL_LENGTH:
                raise ValueError(f"report_url is longer than Slack takes ({MAX_URL_LENGTH})")

    @property
    def is_active(self) -> bool:
        """Open, acknowledged or remediating: still a problem someone may act on."""
        return self.status in ACTIVE_INCIDENT_STATUSES

    @classmethod
    def from_records(
        cls,
        incident: Incident,
        run: PlaybookRun | None = None,
        approvals: Iterable[str] = (),
        report_url: str | None = None,
        downstream: tuple[tuple[str, ...], int] = ((), 0),
    ) -> IncidentCard:
        """The card of a stored incident and its latest run (`approvals` as in
        `RunCard.from_run`); `downstream` the jobs (a few names) and runs that read its
        data."""
        return cls(
            incident_id=incident.id or 0,
            title=incident.title,
            severity=incident.severity,
            status=str(incident.status),
            dataset=incident.dataset,
            monitor=incident.monitor,
            pattern=incident.pattern,
            scope=incident.scope or {},
            occurrences=incident.occurrences,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            findings=tuple((incident.evidence or {}).get("findings") or ()),
            run=None if run is None else RunCard.from_run(run, approvals),
            report_url=report_url,
            silenced_by=incident.silenced_by,
            dataset_version=((incident.evidence or {}).get("dataset_version") or {}).get("version"),
            downstream_jobs=downstream[0],
            downstream_runs=downstream[1],
        )


def _check_choice(name: str, value: str, allowed: Iterable[str]) -> None:
    choices = list(allowed)
    if value not in choices:
        raise ValueError(f"{name} {value!r} is not one of: {', '.join(choices)}")
