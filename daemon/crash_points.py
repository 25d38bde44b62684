"""Test-only crash points: a process stops itself, hard, at a named step.

Crash tests must kill a process at a known point, not after a sleep. Code that must survive
a crash calls `stop_if_asked("name")` at each point worth testing; when the environment
variable `WARDEN_TEST_STOP_AT` names that point (`name`, or `name:k` for its k-th passage,
counted from 1), the process kills itself with SIGKILL: no `finally`, no atexit, no flush,
exactly like a power cut or the OOM killer. Unset (always, outside tests), it costs one
dictionary lookup.

>>> stop_if_asked("nowhere")  # not asked: returns
"""

from __future__ import annotations

import os
import signal
from collections import Counter

#: The environment variable that names the crash point, as `name` or `name:k`.
STOP_AT_VARIABLE = "WARDEN_TEST_STOP_AT"

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
