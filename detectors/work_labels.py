"""What kind of work each thread is doing now, as the code says it: for the CPU profile.

`daemon.runtime.cpu_profile` charges each thread's CPU to the kind of work it is doing. It
used to read that off the thread's stack, walking another thread's frames (`f_back`),
which CPython 3.11 does not make safe: a frame popped meanwhile crashed the whole daemon
with a segmentation fault (seen twice in an hour of `bench/scheduler_load.py` on
PostgreSQL). So the code marks what it does instead: `with doing("execute"): ...` pushes a
label on the thread's own stack of labels, and the profiler reads the innermost one
(`current`), a dict lookup, without touching frames. Marks cost about a microsecond; they
sit where a scan changes kind of work (a query compiled, a query run, a store transaction,
an audit append, a detector, a Slack call), not in loops.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: thread ident -> its labels, outermost first (only threads inside a `doing` block)
_LABELS: dict[int, list[str]] = {}


@contextmanager
def doing(kind: str) -> Iterator[None]:
    """Mark the calling thread as doing `kind` of work inside the block."""
    ident = threading.get_ident()
    labels = _LABELS.setdefault(ident, [])
    labels.append(kind)
    try:
        yield
    finally:
        labels.pop()
        if not labels:
            _LABELS.pop(ident, None)


def current(ident: int) -> str | None:
    """The innermost kind of work thread `ident` marked, or None outside any block."""
    labels = _LABELS.get(ident)
    try:
        return labels[-1] if labels else None
    except IndexError:  # the thread left its block between the two reads
        return None
