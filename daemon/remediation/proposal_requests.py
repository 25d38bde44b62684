"""A proposal request's states, how long it waits after a failure, and how it is reported.

```
pending ──claim──► planning ──► proposed | refused | cancelled
   ▲                  │ └─ planning (taken over from a planner that is gone)
   └──── failed, retried after retry_delay(attempts) ──┘ ... failed after MAX_ATTEMPTS
pending ──► cancelled (the incident resolved, closed or was silenced)
```

Every status change goes through `move`, which refuses a transition the machine lacks; every
failure is an audit event on the incident's timeline (`audit_failure`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import OPEN_PROPOSAL_STATUSES, ProposalRequest, ProposalStatus

#: Claims of one request before it is given up as `failed` (each failure is audited).
MAX_ATTEMPTS = 6
#: Wait after the first failure; doubled after each further one.
RETRY_BASE = timedelta(seconds=30)
#: The longest wait between two attempts.
RETRY_CAP = timedelta(hours=1)
_ALLOWED = {
    ProposalStatus.pending: {ProposalStatus.planning, ProposalStatus.cancelled},
    ProposalStatus.planning: {
        ProposalStatus.planning,  # taken over from a planner that is gone
        ProposalStatus.pending,  # failed, to be retried
        ProposalStatus.proposed,
        ProposalStatus.refused,
        ProposalStatus.failed,
        ProposalStatus.cancelled,
    },
}


class TransitionRefused(RuntimeError):
    """A request was asked to move where its current status does not lead."""


@dataclass(frozen=True)
class PlanningOutcome:
    """What became of one request: `status` is the request's new status (`proposed`,
    `refused`, `failed`, `cancelled`, or `pending` when it will be retried); `run_id` the
    proposed run; `message` a sentence for people."""

    request_id: int
    incident_id: int
    status: str
    run_id: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "incident_id": self.incident_id,
            "status": self.status,
            "run_id": self.run_id,
            "message": self.message,
        }


def move(request: ProposalRequest, to: ProposalStatus, *, now: datetime) -> None:
    """The one place a request's status changes; refuses a transition the machine lacks."""
    current = ProposalStatus(request.status)
    if to not in _ALLOWED.get(current, set()):
        raise TransitionRefused(f"proposal request {request.id} is {current}, not {to}-able")
    request.status, request.updated_at = to.value, now


def retry_delay(attempts: int) -> timedelta:
    """The wait after `attempts` failed claims: 30 s, 1 min, 2 min... at most an hour.

    >>> [int(retry_delay(n).total_seconds()) for n in (1, 2, 3, 10)]
    [30, 60, 120, 3600]
    """
    return min(RETRY_BASE * 2 ** max(0, attempts - 1), RETRY_CAP)


def still_queued(store: Store, incident_ids: Iterable[int]) -> list[PlanningOutcome]:
    """The open (pending or planning) requests of these incidents, as `queued` outcomes:
    what a scan reports when its proposals were not planned within the command."""
    wanted = sorted(set(incident_ids))
    if not wanted:
        return []
    with store.session(readonly=True) as session:
        requests = session.exec(
            select(ProposalRequest)
            .where(
                col(ProposalRequest.incident_id).in_(wanted),
                col(ProposalRequest.status).in_(OPEN_PROPOSAL_STATUSES),
            )
            .order_by(col(ProposalRequest.id))
        ).all()
    return [
        PlanningOutcome(
            request.id or 0,
            request.incident_id,
            "queued",
            None,
            f"being planned by {request.claimed_by}"
            if request.status == ProposalStatus.planning
            else f"queued for planning at {request.next_attempt_at.isoformat()}"
            + (f" (last attempt: {request.last_error})" if request.last_error else ""),
        )
        for request in requests
    ]


def audit_failure(
    session: Session,
    request: ProposalRequest,
    identity: str,
    detail: str,
    retry_at: datetime | None,
) -> None:
    """A failed attempt on the incident's timeline; `retry_at` None: given up."""
    append_audit(
        session,
        actor=identity,
        action="proposal.failed",
        entity_type="incident",
        entity_id=str(request.incident_id),
        payload={
            "request_id": request.id,
            "attempt": request.attempts,
            "error": detail,
            "retry_at": retry_at.isoformat() if retry_at else None,
        },
    )
