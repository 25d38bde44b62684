"""Which escalation steps are due for a group of incidents (pure; issue 21's escalation
policies build on it, `docs/design/oncall.md` section 3).

A policy is an ordered list of steps, each `after` a wait counted from when the escalation
started, and each firing only while the group is in the state the step requires:
`until="acknowledged"` (the default) fires only while nobody has acknowledged,
`until="resolved"` also while acknowledged but unresolved. Time spent *held* (every open
incident silenced) does not count: a silence pauses the clock, it does not skip steps.

While acknowledged but unresolved, reminders fire every `remind_every`; after downtime only
the latest due reminder fires, not a burst. Each (step, reminder) fires at most once; the
store makes that hold across replicas (a unique row per firing), this module only says
what is due.

>>> from datetime import datetime, timedelta, UTC
>>> t0 = datetime(2025, 1, 1, tzinfo=UTC)
>>> steps = (Step(timedelta(0), "page"), Step(timedelta(minutes=15), "notify"))
>>> state = EscalationState("escalating", started_at=t0)
>>> [f.step for f in due_firings(state, steps, None, set(), t0 + timedelta(minutes=16))]
[0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

#: The shortest reminder interval a policy may ask for (no pager storms).
MIN_REMIND_EVERY = timedelta(minutes=15)
STATES = ("escalating", "held", "acknowledged", "ended")
#: The `step` of a reminder firing.
REMINDER = -1


@dataclass(frozen=True)
class Step:
    """Wait `after` (from the start of the escalation, held time excluded), then `action`
    (`page`, `notify` another channel, `mention` a group in the thread)."""

    after: timedelta
    action: str
    until: str = "acknowledged"  # or "resolved"


@dataclass(frozen=True)
class EscalationState:
    """A group's escalation: its state, when it started, time held before `held_since`
    (seconds), since when it is held (while `held`), and when it was acknowledged."""

    status: str
    started_at: datetime
    held_seconds: float = 0.0
    held_since: datetime | None = None
    acknowledged_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in STATES:
            raise ValueError(f"escalation state {self.status!r} is not one of {STATES}")

    def elapsed(self, now: datetime) -> timedelta:
        """Time since the start, without the time held."""
        held = self.held_seconds
        if self.status == "held" and self.held_since is not None:
            held += max(0.0, (now - self.held_since).total_seconds())
        return max(timedelta(0), now - self.started_at - timedelta(seconds=held))


@dataclass(frozen=True)
class Firing:
    """A due firing: step index (or `REMINDER`) and the reminder's number (0 for steps)."""

    step: int
    reminder: int = 0


def due_firings(
    state: EscalationState,
    steps: Sequence[Step],
    remind_every: timedelta | None,
    fired: set[tuple[int, int]],
    now: datetime,
) -> list[Firing]:
    """The firings due at `now` that have not fired (`fired`: (step, reminder) pairs)."""
    if state.status in ("held", "ended"):
        return []
    elapsed = state.elapsed(now)
    due = [
        Firing(index)
        for index, step in enumerate(steps)
        if elapsed >= step.after
        and (index, 0) not in fired
        and (state.status == "escalating" or step.until == "resolved")
    ]
    if state.status == "acknowledged" and remind_every is not None:
        if remind_every < MIN_REMIND_EVERY:
            raise ValueError(f"remind_every is at least {MIN_REMIND_EVERY}")
        assert state.acknowledged_at is not None
        latest = int((now - state.acknowledged_at) / remind_every)
        if latest >= 1 and (REMINDER, latest) not in fired:
            due.append(Firing(REMINDER, latest))
    return due
