"""A running run's phase, stored, and its heartbeat kept through every phase.

A run is `running` from its claim to its outcome, and does three things in that time, each a
stored phase (`RunPhase`, on the run's row):

    applying --(apply done)--> verifying --(verified)--> succeeded
        |                          |
        +--(apply failed)--+-------+--(not verified)--> rolling_back --> rolled_back | failed

The phase moves forward only, in its own transaction, and only for the worker that holds the
run (`claimed_by`): a worker that lost the run (another took it over while it looked dead)
changes nothing. Each move is audited (`run.phase`) with the step log so far and, for
`rolling_back`, the reason, which is kept in the run's `error` so a takeover can report it.

A worker taking a run over (`executor.claim_next`) resumes the phase it finds: it applies
again only in `applying` (steps are idempotent); in `verifying` it verifies; in
`rolling_back` it rolls back again (rollbacks are idempotent too) and never applies.

The executor keeps the heartbeat in every phase (`keep_heartbeat`): while a child applies,
and on a background thread while the parent verifies (a whole monitor scan) or rolls back,
so a slow verify is never mistaken for a dead worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import PlaybookRun, RunPhase, RunStatus
from daemon.store.types import utcnow

#: The order phases go in: a run never moves back to an earlier one.
ORDER = (RunPhase.applying, RunPhase.verifying, RunPhase.rolling_back)


def update_if_held(session: Session, run_id: int, identity: str, **values: Any) -> bool:
    """Set `values` on the run if `identity` still holds it (`running`, claimed by it), in
    one statement; False when it no longer does (taken over while it looked dead)."""
    result = session.exec(  # type: ignore[call-overload]
        update(PlaybookRun)
        .where(
            col(PlaybookRun.id) == run_id,
            col(PlaybookRun.claimed_by) == identity,
            col(PlaybookRun.status) == RunStatus.running,
        )
        .values(**values)
    )
    return bool(result.rowcount)


def enter_phase(
    store: Store,
    run_id: int,
    identity: str,
    phase: RunPhase,
    *,
    steps: list[dict[str, Any]],
    reason: str | None = None,
) -> bool:
    """Move the run `identity` holds into `phase`, storing the step log so far (and the
    reason, for `rolling_back`), audited; False when `identity` no longer holds the run."""
    with store.session() as session:
        values: dict[str, Any] = {
            "phase": phase.value,
            "step_log": list(steps),
            "heartbeat_at": utcnow(),
            "updated_at": utcnow(),
        }
        if phase == RunPhase.rolling_back:
            values["error"] = reason
        if not update_if_held(session, run_id, identity, **values):
            return False
        append_audit(
            session,
            actor=identity,
            action="run.phase",
            entity_type="playbook_run",
            entity_id=str(run_id),
            payload={"phase": phase.value, "reason": reason, "steps_so_far": len(steps)},
        )
        return True


class Heartbeat:
    """A background heartbeat: `lost` is set once the run is no longer held."""

    def __init__(self, beat: Callable[[], bool], interval: float) -> None:
        self._beat, self._interval = beat, interval
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="warden-run-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self._beat():
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a store hiccup: try again next interval
                continue

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def keep_heartbeat(beat: Callable[[], bool], interval: float) -> Iterator[Heartbeat]:
    """Call `beat` every `interval` seconds while the block runs (a verify, a rollback)."""
    heartbeat = Heartbeat(beat, interval)
    heartbeat.start()
    try:
        yield heartbeat
    finally:
        heartbeat.stop()
