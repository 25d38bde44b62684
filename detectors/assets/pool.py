"""Inspect many asset files in worker processes, each bounded in memory and time.

One hostile file must not take the daemon down or stall it: files are inspected
(`inspect.inspect_file`) by a pool of `spawn`ed worker processes, each with an address-space
limit (`PoolLimits.worker_memory_bytes`, `RLIMIT_AS`) and a limit on the seconds one file may
take (`PoolLimits.seconds_per_file`). A file that exceeds either, or kills its worker, is
reported `unreadable` with reason `worker_failed` (out of memory, an error) or `timeout` (a
hang; also a worker killed outright, whose file the pool loses and which is noticed only at
the time limit); the pool is then replaced and the files that were in flight beside it are
inspected again. Unreadable files are read again at the next scan. A fresh pool's workers
first import the decoders (`WARM_UP_SECONDS`), so start-up is never counted against a
file. Workers are replaced every `TASKS_PER_WORKER` files, so no slow leak accumulates.

`inspect_files` reports progress through a callback (files done, files in all); an
`Inspector` keeps one pool for many batches of files.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from detectors.assets.inspect import AssetFacts, Limits, inspect_file
from detectors.assets.walk import FoundFile

#: Files a worker inspects before it is replaced by a fresh one.
TASKS_PER_WORKER = 10_000
#: Files waiting per worker: enough to keep workers busy, few enough that the oldest in
#: flight has surely started when its deadline is counted.
QUEUED_PER_WORKER = 2
#: Seconds a fresh pool's workers have to start and import the decoders (numpy, SciPy,
#: Pillow, ImageHash) before any file is timed: start-up is not a file's fault.
WARM_UP_SECONDS = 120.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PoolLimits:
    """`workers` processes (default: the machine's cores, at most 4), each limited to
    `worker_memory_bytes` of address space, and `seconds_per_file` seconds a file."""

    workers: int = 0
    worker_memory_bytes: int = 2 * 1024**3
    seconds_per_file: float = 60.0

    def worker_count(self, files: int) -> int:
        wanted = self.workers or min(4, os.cpu_count() or 1)
        return max(1, min(wanted, files))


def inspect_files(
    root: str,
    files: Sequence[FoundFile],
    limits: Limits | None = None,
    pool_limits: PoolLimits | None = None,
    progress: Progress | None = None,
) -> list[AssetFacts]:
    """The facts of every file, in the order given (see the module docstring)."""
    if not files:
        return []
    with Inspector(root, len(files), limits, pool_limits) as inspector:
        return inspector.inspect(files, progress)


class Inspector:
    """A pool of workers kept for many batches of files (`inspect`), so that a scan that
    saves its work every few hundred files starts its workers once, not once a batch
    (spawning and importing the decoders takes about a second). `expected` files in all
    size the pool."""

    def __init__(
        self,
        root: str,
        expected: int,
        limits: Limits | None = None,
        pool_limits: PoolLimits | None = None,
    ) -> None:
        self.root = root
        self.limits = limits or Limits()
        self.pool_limits = pool_limits or PoolLimits()
        self.workers = self.pool_limits.worker_count(max(1, expected))
        self._pool: _Workers | None = None

    def __enter__(self) -> Inspector:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close()

    def inspect(
        self, files: Sequence[FoundFile], progress: Progress | None = None
    ) -> list[AssetFacts]:
        """The facts of every file of `files`, in their order."""
        results: dict[int, AssetFacts] = {}
        pending = deque(range(len(files)))
        while pending:
            if self._pool is None:
                workers = _Workers(self.workers, self.pool_limits.worker_memory_bytes)
                workers.__enter__()  # kept only once started: a failed start raises as itself
                self._pool = workers
            assert self._pool.pool is not None
            failed = _run(
                self._pool.pool,
                self.workers,
                self.root,
                files,
                pending,
                results,
                self.limits,
                self.pool_limits,
                progress,
            )
            if failed is None:
                break
            self._close()  # a hung or broken worker: a fresh pool for the rest
            index, reason, detail = failed
            found = files[index]
            results[index] = AssetFacts(
                found.path,
                found.size,
                found.mtime_ns,
                found.inode,
                status="unreadable",
                reason=reason,
                detail=detail,
            )
            if progress is not None:
                progress(len(results), len(files))
        return [results[index] for index in range(len(files))]

    def _close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.__exit__()


def _run(
    pool: Pool,
    workers: int,
    root: str,
    files: Sequence[FoundFile],
    pending: deque[int],
    results: dict[int, AssetFacts],
    limits: Limits,
    pool_limits: PoolLimits,
    progress: Progress | None,
) -> tuple[int, str, str] | None:
    """Inspect `pending` files on `pool` until none is left (None), or until the oldest file
    in flight fails (its index, reason and detail; the others in flight go back to the front
    of `pending`)."""
    in_flight: deque[tuple[int, AsyncResult[AssetFacts]]] = deque()
    capacity = QUEUED_PER_WORKER * workers
    while pending or in_flight:
        while pending and len(in_flight) < capacity:
            index = pending.popleft()
            in_flight.append((index, pool.apply_async(inspect_file, (root, files[index], limits))))
        index, waiting = in_flight[0]
        try:
            # The oldest file has had the whole queue ahead of it; its deadline counts
            # from now, so a slow neighbour does not eat into it.
            facts = waiting.get(timeout=pool_limits.seconds_per_file)
        except multiprocessing.TimeoutError:
            failed = (index, "timeout", f"took more than {pool_limits.seconds_per_file:g} s")
        except (MemoryError, queue.Empty) as error:
            failed = (index, "worker_failed", f"the worker ran out of memory: {error!r}")
        except Exception as error:  # noqa: BLE001 - a bug in inspection, kept per file
            failed = (index, "worker_failed", f"{type(error).__name__}: {error}")
        else:
            in_flight.popleft()
            results[index] = facts
            if progress is not None:
                progress(len(results), len(files))
            continue
        in_flight.popleft()
        pending.extendleft(reversed([other for other, _ in in_flight]))
        return failed
    return None


class _Workers:
    """A spawned pool, terminated (not joined) on the way out: a hung worker never returns."""

    def __init__(self, processes: int, memory_bytes: int) -> None:
        self.processes = processes
        self.memory_bytes = memory_bytes
        self.pool: Pool | None = None

    def __enter__(self) -> Pool:
        context = multiprocessing.get_context("spawn")
        self.pool = context.Pool(
            self.processes,
            initializer=_limit_worker,
            initargs=(self.memory_bytes,),
            maxtasksperchild=TASKS_PER_WORKER,
        )
        try:
            # One warm-up task per worker: each imports the decoders before files are timed.
            # Workers that cannot start at all (respawned in a loop by the pool) end here,
            # as a clear error, instead of every file timing out one by one.
            self.pool.map_async(_warm_up, range(self.processes), chunksize=1).get(
                timeout=WARM_UP_SECONDS
            )
        except multiprocessing.TimeoutError:
            self.__exit__()
            raise RuntimeError(
                f"the {self.processes} decoding worker(s) did not start within "
                f"{WARM_UP_SECONDS:g} s (memory limit too low for the decoders?)"
            ) from None
        return self.pool

    def __exit__(self, *exc: Any) -> None:
        assert self.pool is not None
        self.pool.terminate()
        self.pool.join()


def _warm_up(_: int) -> bool:
    """Import what decoding needs (in a worker)."""
    import detectors.assets.image_measures  # noqa: F401

    return True


def _limit_worker(memory_bytes: int) -> None:
    """In each worker: one BLAS thread (a thread pool's reservations would count against the
    address-space limit), then the limit itself."""
    import resource

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    if memory_bytes > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
