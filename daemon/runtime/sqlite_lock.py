"""One daemon per SQLite store.

SQLite has one writer at a time and no `SKIP LOCKED`: two daemons on one file would queue on
each other's write lock and, worse, both believe they run the schedule. So `warden run` on a
SQLite store takes an exclusive, non-blocking OS lock (`flock`) on `<database>.daemon.lock`
for its whole life, and a second daemon refuses to start, naming the first. The lock dies
with the process (even on SIGKILL), so a crash never leaves a stale lock behind.
One-off commands (`warden scan`, `warden approve`...) do not take it: they share the store
with the daemon as they always have. PostgreSQL stores take no lock: replicas are supported.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from daemon.store.engine import Store
from daemon.store.urls import is_memory_sqlite


class SecondDaemon(Exception):
    """Another daemon already holds this SQLite store."""


class SqliteDaemonLock:
    """Held from `acquire` until `release` or the end of the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    @classmethod
    def for_store(cls, store: Store) -> SqliteDaemonLock | None:
        """The lock of a file-backed SQLite store; None for PostgreSQL or in-memory SQLite."""
        url = store.url
        if url.get_backend_name() != "sqlite" or is_memory_sqlite(url) or not url.database:
            return None
        database = Path(url.database).resolve()
        return cls(database.with_name(database.name + ".daemon.lock"))

    def acquire(self, identity: str) -> None:
        """Take the lock and write `identity` into it; `SecondDaemon` when another holds it."""
        # Opened without truncating: the holder's identity must survive a failed attempt.
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise SecondDaemon(
                f"another warden daemon ({holder}) is already running on the SQLite store "
                f"{self.path.name.removesuffix('.daemon.lock')} (lock file {self.path}). "
                "SQLite has one writer, so one daemon per store: stop that one first, or "
                "move the store to PostgreSQL (store.url: postgresql://...) to run replicas."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{identity}\n")
        handle.flush()
        os.fsync(handle.fileno())
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
