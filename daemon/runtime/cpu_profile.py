"""Where the daemon's CPU goes, by kind of work: a sampling profiler for `warden run`.

Off unless `WARDEN_CPU_PROFILE` names a JSON file (the bench `bench/scheduler_load.py` sets
it). Then a thread wakes every `INTERVAL` seconds, reads each Python thread's own CPU clock
(CPU time, not wall time, so a thread waiting on a lock or a socket counts nothing) and
charges the CPU it used since the last sample to the kind of work the thread marked itself
as doing now (`detectors.work_labels`: the innermost `with doing(kind)` block it is in):

- `compile`: building and compiling queries (`detectors.query_plans`);
- `execute`: the engine running them, as seen from the calling thread
  (`detectors.sql_runner`);
- `detector`: the detectors' own statistics (`detect_drift`, `detect_quality`, ...);
- `audit`, `outbox`: appending audit events; sending Slack messages;
- `store`: any other work inside a store transaction (`Store.session`);
- `other`: anything not marked (configuration, scheduling, the scan's own glue, queries
  outside the planned ones).

It reads no frames: walking another thread's stack (`f_back`) is not safe in CPython 3.11
and crashed the daemon with a segmentation fault under load. A thread's clock is read by
its kernel thread id (Linux's per-thread CPU clock), so a thread that ended between the
listing and the read gives an error, not a read of freed memory. Threads the engine starts
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

from detectors.work_labels import current

log = logging.getLogger(__name__)

#: The environment variable naming the profile's JSON file.
PROFILE_VARIABLE = "WARDEN_CPU_PROFILE"
#: Seconds between samples.
INTERVAL = 0.01
#: Seconds between rewrites of the file.
WRITE_EVERY = 5.0
#: The kinds of work the profile reports (those the code marks, and `other`).
KIND_NAMES = ("audit", "outbox", "execute", "compile", "store", "detector", "other")


def thread_cpu_seconds(thread: threading.Thread) -> float | None:
    """CPU seconds `thread` has used, or None when it has ended (or has not started).

    On Linux the clock is named by the kernel thread id (`MAKE_THREAD_CPUCLOCK(tid,
    CPUCLOCK_SCHED)`, as glibc's `pthread_getcpuclockid` builds it): an ended thread's id
    gives EINVAL. Elsewhere `pthread_getcpuclockid` of a live thread."""
    try:
        if sys.platform == "linux":
            if thread.native_id is None:
                return None
            return time.clock_gettime((~thread.native_id << 3) | 6)
        if thread.ident is None or not thread.is_alive():
            return None
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, ProcessLookupError):
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
        """Charge each thread's CPU since the last sample to the kind it marked now."""
        me = threading.get_ident()
        for thread in threading.enumerate():
            ident = thread.ident
            if ident is None or ident == me:
                continue
            used = thread_cpu_seconds(thread)
            if used is None:
                continue  # ended between the listing and here
            before = self._last.get(ident)
            self._last[ident] = used
            if before is None or used <= before:
                continue
            self.seconds[current(ident) or "other"] += used - before
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
