"""Where the daemon's CPU goes, by kind of work: a sampling profiler for `warden run`.

Off unless `WARDEN_CPU_PROFILE` names a JSON file (the bench `bench/scheduler_load.py` sets
it). Then a thread wakes every `INTERVAL` seconds, reads each Python thread's own CPU clock
(`pthread_getcpuclockid`: CPU time, not wall time, so a thread waiting on a lock or a socket
counts nothing) and charges the CPU it used since the last sample to the kind of work its
stack shows now (`classify`):

- `compile`: building and compiling queries (Ibis expressions, sqlglot);
- `execute`: the engine running them, as seen from the calling thread (DuckDB, psycopg,
  Spark's gateway, and `detectors.sql_runner`, which calls into them); which of `compile`
  and `execute` a stack shows is decided by its innermost frame in either library, since
  each runs inside the other;
- `detector`: the detectors' own statistics (scipy, numpy, `detectors/` outside queries);
- `audit`, `outbox`: appending audit events; writing and sending Slack messages;
- `store`: every other store access (SQLAlchemy, the SQLite and PostgreSQL drivers);
- `scheduler`: APScheduler's own bookkeeping; `other`: anything else.

A stack that shows several kinds is charged to the first in that order of precedence
(an audit append is `audit`, though it runs through SQLAlchemy). Threads the engine starts
itself (DuckDB's workers) are not Python threads: their CPU is the process's total minus
what was charged and the profiler's own CPU (`profiler`), reported as `unattributed`. The
file is rewritten atomically every `WRITE_EVERY` seconds, so it survives a daemon that
exits with `os._exit`.

The error of one sample is at most `INTERVAL` of CPU per thread, charged to the kind seen at
its end; over minutes of scans it averages out.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

#: The environment variable naming the profile's JSON file.
PROFILE_VARIABLE = "WARDEN_CPU_PROFILE"
#: Seconds between samples.
INTERVAL = 0.01
#: Seconds between rewrites of the file.
WRITE_EVERY = 5.0

#: (kind, path fragments of a frame's file that show it), in order of precedence.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("audit", ("/daemon/store/audit.py",)),
    ("outbox", ("/daemon/slack/", "/slack_sdk/")),
    (
        "execute",
        ("/site-packages/duckdb/", "/psycopg", "/py4j/", "/pyarrow/", "/detectors/sql_runner.py"),
    ),
    ("compile", ("/sqlglot/", "/ibis/")),
    ("store", ("/sqlalchemy/", "/sqlmodel/", "/sqlite3/", "/daemon/store/", "/alembic/")),
    ("detector", ("/detectors/", "/scipy/", "/numpy/")),
    ("scheduler", ("/apscheduler/",)),
)
KIND_NAMES = (*(kind for kind, _ in KINDS), "other")
#: Kinds decided by the innermost frame that shows one of them rather than by precedence:
#: Ibis compiles inside its backend's `execute`, and the engine runs inside Ibis, so the
#: frame nearest the CPU says which of the two is at work.
INNERMOST_KINDS = ("execute", "compile")


def classify(frame: FrameType | None) -> str:
    """The kind of work a thread's stack (innermost `frame` outwards) shows."""
    files = []
    # Only frames: CPython 3.11 can hand another thread's frame chain over mid-change (seen
    # once in a 5-minute bench: an `f_back` that was a datetime); the stack then ends there.
    while isinstance(frame, FrameType):
        files.append(frame.f_code.co_filename)
        frame = frame.f_back
    for kind, fragments in KINDS:
        if kind in INNERMOST_KINDS:
            engine = _innermost_engine_kind(files)
            if engine is not None:
                return engine
            continue
        if any(fragment in path for path in files for fragment in fragments):
            return kind
    return "other"


def _innermost_engine_kind(files: list[str]) -> str | None:
    """`execute` or `compile`, by the innermost frame (first in `files`) that shows either."""
    fragments = [(kind, f) for kind, fs in KINDS if kind in INNERMOST_KINDS for f in fs]
    for path in files:
        for kind, fragment in fragments:
            if fragment in path:
                return kind
    return None


class CpuProfile:
    """The sampling thread and its totals, in CPU seconds by kind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.samples = 0
        #: The sampling thread's own CPU seconds (the profile's overhead).
        self.own_seconds = 0.0
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._process_cpu_at_start = time.process_time()
        self._thread = threading.Thread(target=self._loop, name="cpu-profile", daemon=True)

    @classmethod
    def from_environment(cls) -> CpuProfile | None:
        """A started profile when `WARDEN_CPU_PROFILE` is set, else None."""
        target = os.environ.get(PROFILE_VARIABLE)
        if not target:
            return None
        profile = cls(Path(target))
        profile._thread.start()
        atexit.register(profile.stop)  # a clean exit writes the last figures
        return profile

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.write()

    def _loop(self) -> None:
        next_write = time.monotonic() + WRITE_EVERY
        while not self._stop.wait(INTERVAL):
            try:
                self.sample()
            except Exception:  # a profile must never stop profiling: lose one sample
                log.debug("a CPU profile sample failed", exc_info=True)
            if time.monotonic() >= next_write:
                self.write()
                next_write = time.monotonic() + WRITE_EVERY

    def sample(self) -> None:
        """Charge each thread's CPU since the last sample to what its stack shows now."""
        frames = sys._current_frames()
        me = threading.get_ident()
        for thread in threading.enumerate():
            ident = thread.ident
            if ident is None or ident == me or thread.native_id is None:
                continue
            try:
                clock = time.pthread_getcpuclockid(ident)
                used = time.clock_gettime(clock)
            except (OSError, ProcessLookupError):
                continue  # the thread ended between enumerate and here
            before = self._last.get(ident)
            self._last[ident] = used
            if before is None or used <= before:
                continue
            self.seconds[classify(frames.get(ident))] += used - before
        self.samples += 1
        self.own_seconds = time.thread_time()

    def snapshot(self) -> dict[str, object]:
        """The totals as the file holds them (seconds of CPU, and the process's total)."""
        process = time.process_time() - self._process_cpu_at_start
        charged = sum(self.seconds.values())
        return {
            "wall_seconds": round(time.monotonic() - self._started, 3),
            "process_cpu_seconds": round(process, 3),
            "by_kind": {kind: round(self.seconds.get(kind, 0.0), 3) for kind in KIND_NAMES},
            "profiler": round(self.own_seconds, 3),
            "unattributed": round(max(0.0, process - charged - self.own_seconds), 3),
            "samples": self.samples,
            "interval_seconds": INTERVAL,
        }

    def write(self) -> None:
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.snapshot(), sort_keys=True))
        os.replace(temporary, self.path)
