"""Test-only crash points: a process stops itself, hard, at a named step.

Crash tests must kill a process at a known point, not after a sleep. Code that must survive
a crash calls `stop_if_asked("name")` at each point worth testing; when the environment
variable `WARDEN_TEST_STOP_AT` names that point (`name`, or `name:k` for its k-th passage,
counted from 1), the process kills itself with SIGKILL: no `finally`, no atexit, no flush,
exactly like a power cut or the OOM killer. Unset (always, outside tests), it costs one
dictionary lookup.

A test that must hold a process at a point (a verify that takes longer than the run's
staleness limit, say) sets `WARDEN_TEST_PAUSE_AT=name=path`: on reaching the point the
process creates `path.reached` and waits until `path` exists, so the test decides when it
goes on, on an event, not after a guessed sleep.

>>> stop_if_asked("nowhere")  # not asked: returns
>>> pause_if_asked("nowhere")
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

#: The environment variable that names the crash point, as `name` or `name:k`.
STOP_AT_VARIABLE = "WARDEN_TEST_STOP_AT"
#: The environment variable that names a pause point and its release file, `name=path`.
PAUSE_AT_VARIABLE = "WARDEN_TEST_PAUSE_AT"
#: How often a paused process looks for its release file, in seconds.
PAUSE_POLL_SECONDS = 0.05

_passages: Counter[str] = Counter()


def stop_if_asked(point: str) -> None:
    """Kill this process (SIGKILL) if `WARDEN_TEST_STOP_AT` names `point` at this passage."""
    wanted = os.environ.get(STOP_AT_VARIABLE)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _passages[point] += 1
    if _passages[point] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)


def pause_if_asked(point: str) -> None:
    """Wait at `point` until the test releases it, if `WARDEN_TEST_PAUSE_AT` names it."""
    wanted = os.environ.get(PAUSE_AT_VARIABLE)
    if not wanted:
        return
    name, _, path = wanted.partition("=")
    if name != point or not path:
        return
    release = Path(path)
    Path(f"{path}.reached").touch()
    while not release.exists():
        time.sleep(PAUSE_POLL_SECONDS)
