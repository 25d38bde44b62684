"""The agent's threads as stored rows (`agent_thread`): the bookkeeping of who talks about
which incident, and which thread waits for which run.

A thread's life, as its stored `status` (`AgentThreadStatus`):

    running --proposal stored--> waiting --its run decided, claimed--> running --> ...
    running --graph ends--> done            running --graph raises--> failed

- `start_thread` takes the next number on the incident under the incident's row lock, so two
  replicas (or a person and the daemon) never start two threads on one incident at once.
- `claim_decided` moves each `waiting` thread whose run a person (or expiry) decided to
  `running` with one conditional UPDATE: of two daemons, exactly one resumes it.
- `settle` stores where the graph stopped: `waiting` for a run, `done`, or `failed`.
- A thread left `running` by a process that died (no `settle` after its claim) is claimed
  again by `claim_stale` once it has not moved for `STALE_AFTER`: the checkpointer says
  where the graph really stopped, and the thread is settled from there (and resumed by a
  later pass if the run it waits for is decided).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from daemon.store.engine import Store
from daemon.store.models import (
    AgentThread,
    AgentThreadStatus,
    Approval,
    PlaybookRun,
    RunStatus,
)
from daemon.store.types import utcnow

#: How long a thread may stay `running` (claimed, not settled) before another pass treats
#: its process as dead and looks again. A resume is one model call or a few: minutes at most.
STALE_AFTER = timedelta(minutes=15)


class ThreadRefused(ValueError):
    """The incident cannot take a new thread; the message says why."""


@dataclass(frozen=True)
class DecidedThread:
    """A thread claimed to be resumed with its run's decision."""

    incident_id: int
    thread_id: str
    run_id: int
    decision: str
    reason: str | None
    requested_by: str


def start_thread(
    session: Session, incident_id: int, requested_by: str, *, asked_by_person: bool
) -> str:
    """A new `running` thread on `incident_id` (whose row the caller holds locked); its id.

    The daemon looks at an incident once; a person may ask again (`asked_by_person`).
    """
    earlier = session.exec(
        select(func.count()).select_from(AgentThread).where(AgentThread.incident_id == incident_id)
    ).one()
    if earlier and not asked_by_person:
        raise ThreadRefused(f"the agent has already looked at incident {incident_id}")
    number = int(earlier) + 1
    thread = AgentThread(
        thread_id=f"incident-{incident_id}-{number}",
        incident_id=incident_id,
        number=number,
        requested_by=requested_by,
    )
    session.add(thread)
    session.flush()
    return thread.thread_id


def settle(
    store: Store, thread_id: str, *, waiting_for: int | None, outcome: str, failed: bool = False
) -> None:
    """Store where the graph stopped: `waiting` for run `waiting_for`, else `done` (or
    `failed`), with the graph's outcome (or the failure) as `outcome`."""
    if failed:
        status = AgentThreadStatus.failed
    elif waiting_for is not None:
        status = AgentThreadStatus.waiting
    else:
        status = AgentThreadStatus.done
    values: dict[str, object] = {
        "status": status.value,
        "outcome": outcome[:2000],
        "updated_at": utcnow(),
    }
    if waiting_for is not None:
        values["run_id"] = waiting_for
    with store.session() as session:
        session.exec(  # type: ignore[call-overload]
            update(AgentThread).where(col(AgentThread.thread_id) == thread_id).values(**values)
        )


def claim_decided(store: Store) -> list[DecidedThread]:
    """Claim every `waiting` thread whose run has been decided, moving it to `running`;
    what to resume it with."""
    with store.session(readonly=True) as session:
        candidates = session.exec(
            select(AgentThread, PlaybookRun)
            .join(PlaybookRun, col(PlaybookRun.id) == col(AgentThread.run_id))
            .where(
                col(AgentThread.status) == AgentThreadStatus.waiting,
                col(PlaybookRun.status) != RunStatus.proposed,
            )
            .order_by(col(AgentThread.thread_id))
        ).all()
    claimed = []
    for thread, run in candidates:
        if not _claim(store, thread.thread_id):
            continue  # another daemon claimed it first
        claimed.append(
            DecidedThread(
                incident_id=thread.incident_id,
                thread_id=thread.thread_id,
                run_id=run.id or 0,
                decision="reject" if run.status == RunStatus.rejected else run.status,
                reason=_rejection_reason(store, run.id or 0),
                requested_by=thread.requested_by,
            )
        )
    return claimed


def claim_stale(store: Store) -> list[AgentThread]:
    """Claim every thread left `running` for longer than `STALE_AFTER` (its process died
    between claiming and settling it); the caller settles each from the checkpointer."""
    stale_before = utcnow() - STALE_AFTER
    with store.session(readonly=True) as session:
        stale = session.exec(
            select(AgentThread).where(
                col(AgentThread.status) == AgentThreadStatus.running,
                col(AgentThread.updated_at) < stale_before,
            )
        ).all()
    return [t for t in stale if _claim(store, t.thread_id, stale_before=stale_before)]


def _claim(store: Store, thread_id: str, *, stale_before: datetime | None = None) -> bool:
    """Move the thread to `running` if it is still `waiting` (or, with `stale_before`, still
    `running` and unmoved since before then): one conditional UPDATE, so one claimant wins."""
    was = AgentThreadStatus.waiting if stale_before is None else AgentThreadStatus.running
    query = update(AgentThread).where(
        col(AgentThread.thread_id) == thread_id, col(AgentThread.status) == was
    )
    if stale_before is not None:
        query = query.where(col(AgentThread.updated_at) < stale_before)
    with store.session() as session:
        result = session.exec(  # type: ignore[call-overload]
            query.values(status=AgentThreadStatus.running.value, updated_at=utcnow())
        )
        return bool(result.rowcount)


def _rejection_reason(store: Store, run_id: int) -> str | None:
    with store.session(readonly=True) as session:
        rejection = session.exec(
            select(Approval).where(Approval.run_id == run_id, Approval.decision == "reject")
        ).first()
        return rejection.reason if rejection else None


def threads_started(session: Session) -> set[int]:
    """The incidents the agent has started a thread on."""
    return set(session.exec(select(AgentThread.incident_id).distinct()).all())
