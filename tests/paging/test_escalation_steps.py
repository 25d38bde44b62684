"""What escalation steps are due, advancing a stepped clock: steps fire in order and once,
an acknowledgement stops them (but not steps that run until resolved), a silence holds the
clock, reminders fire while acknowledged and never in a burst."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from daemon.incidents.escalation import (
    REMINDER,
    EscalationState,
    Firing,
    Step,
    due_firings,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
POLICY = (
    Step(timedelta(0), "page"),
    Step(15 * MINUTE, "notify"),
    Step(30 * MINUTE, "mention"),
)


class SteppedClock:
    def __init__(self) -> None:
        self.now = T0

    def advance(self, minutes: float) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def _run(state: EscalationState, clock: SteppedClock, minutes: list[float], fired: set) -> list:
    """Advance the clock by each step and fire what is due; the firings in order."""
    log = []
    for step in minutes:
        now = clock.advance(step)
        for firing in due_firings(state, POLICY, 4 * 60 * MINUTE, fired, now):
            fired.add((firing.step, firing.reminder))
            log.append((round((now - T0) / MINUTE), firing.step))
    return log


def test_a_three_step_policy_fires_each_step_once_in_order():
    clock, fired = SteppedClock(), set()
    state = EscalationState("escalating", started_at=T0)
    log = _run(state, clock, [0, 5, 10, 1, 14, 1, 60], fired)
    assert log == [(0, 0), (15, 1), (30, 2)]


def test_an_acknowledgement_stops_the_escalation():
    clock, fired = SteppedClock(), set()
    state = EscalationState("escalating", started_at=T0)
    assert _run(state, clock, [0, 10], fired) == [(0, 0)]
    acknowledged = replace(state, status="acknowledged", acknowledged_at=clock.now)
    assert _run(acknowledged, clock, [10, 30, 60], fired) == []
    # A step that runs until resolved still fires while acknowledged.
    until_resolved = (*POLICY[:2], Step(30 * MINUTE, "mention", until="resolved"))
    assert due_firings(acknowledged, until_resolved, None, fired, clock.now) == [Firing(2)]


def test_a_silence_holds_the_clock_and_releasing_it_resumes_where_it_was():
    clock, fired = SteppedClock(), set()
    state = EscalationState("escalating", started_at=T0)
    assert _run(state, clock, [0, 10], fired) == [(0, 0)]
    held = replace(state, status="held", held_since=clock.now)  # at 10 minutes
    assert _run(held, clock, [30, 60], fired) == []
    resumed = replace(
        state, status="escalating", held_seconds=(clock.now - held.held_since).total_seconds()
    )
    assert resumed.elapsed(clock.now) == 10 * MINUTE
    assert _run(resumed, clock, [4, 2], fired) == [(106, 1)]  # 10 + 6 = 16 escalating minutes


def test_reminders_repeat_while_acknowledged_without_a_burst_after_downtime():
    clock, fired = SteppedClock(), {(0, 0), (1, 0), (2, 0)}
    state = EscalationState("acknowledged", started_at=T0, acknowledged_at=T0)
    assert _run(state, clock, [60, 190, 1], fired) == [(250, REMINDER)]  # 4h: the first
    # Twelve hours of downtime: one reminder (the third), not three.
    assert _run(state, clock, [12 * 60], fired) == [(971, REMINDER)]
    assert (REMINDER, 4) in fired and (REMINDER, 2) not in fired
    with pytest.raises(ValueError, match="at least 0:15"):
        due_firings(state, POLICY, 5 * MINUTE, set(), clock.now)


def test_an_ended_escalation_fires_nothing_and_states_are_checked():
    ended = EscalationState("ended", started_at=T0)
    assert due_firings(ended, POLICY, None, set(), T0 + 60 * MINUTE) == []
    with pytest.raises(ValueError, match="is not one of"):
        EscalationState("paused", started_at=T0)
