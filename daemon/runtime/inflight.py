"""Work under way in the daemon, and stopping it gracefully.

On SIGTERM (or Ctrl-C) the daemon stops taking new work at once: the scheduler stops firing,
and ticks or executor passes that were already queued return without doing anything. Work
already under way (`InFlight`) gets `daemon.shutdown_grace` to finish. A second signal skips
the rest of the wait. Whatever is still running then is left claimed by this daemon, which
is recorded as stopped, so the next daemon resumes it (`daemon.runtime.reconciler`); each
scan and each playbook step commits in one transaction, so nothing is left half written.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


class InFlight:
    """What is running now, by description; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._running: dict[int, str] = {}

    @contextmanager
    def track(self, what: str) -> Iterator[None]:
        with self._lock:
            key = next(self._ids)
            self._running[key] = what
        try:
            yield
        finally:
            with self._lock:
                del self._running[key]

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running.values())

    def wait_idle(self, timeout: float, interrupted: threading.Event) -> list[str]:
        """Wait up to `timeout` seconds for nothing to run (or `interrupted` to be set);
        returns what is still running."""
        deadline = time.monotonic() + timeout
        while (left := self.running()) and not interrupted.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            interrupted.wait(min(0.1, remaining))
        return left


@dataclass
class Lifecycle:
    """Shared by the scheduler's jobs and the shutdown: whether to take work, and what runs."""

    stopping: threading.Event = field(default_factory=threading.Event)
    #: Set by a second signal: stop waiting for work under way.
    hurry: threading.Event = field(default_factory=threading.Event)
    inflight: InFlight = field(default_factory=InFlight)
    #: `time.monotonic()` of the scheduler's last heartbeat job (None: not yet run).
    last_beat: float | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def stuck_for(self, limit: float) -> float | None:
        """Seconds since the last heartbeat when that is more than `limit`, else None."""
        if self.last_beat is None:
            return None
        silent = time.monotonic() - self.last_beat
        return silent if silent > limit else None

    def install_signal_handlers(self, on_first: Callable[[], Any]) -> None:
        """SIGTERM and SIGINT: the first calls `on_first` (stop the scheduler), a second
        sets `hurry`. Must be called from the main thread."""

        def handle(signum: int, frame: Any) -> None:
            if self.stopping.is_set():
                self.hurry.set()
                return
            self.stopping.set()
            # Not in the handler itself: it runs between two bytecodes of the main thread,
            # which may hold the very lock that stopping the scheduler takes.
            threading.Thread(target=on_first, name="warden-stop", daemon=True).start()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
