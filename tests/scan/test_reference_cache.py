"""A reference profile missing from the cache is computed once, however many scans of its
dataset start together (a daemon's tick), and every scan gets the same profile."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from daemon.scan import reference_cache
from daemon.scan.datasets import open_dataset
from daemon.scan.reference_cache import reference_profile
from daemon.scan.windows import Window
from daemon.store.engine import open_store
from detectors.profiling import ProfileOptions
from tests.daemon.engine_cases import AT, engine_config, events_table

WAIT = 60  # seconds; a bound on a wait for a condition, never a pace


def test_scans_starting_together_compute_a_missing_reference_once(tmp_path: Path):
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(events_table(), folder / "part-0.parquet")
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    config = engine_config(str(store.url), {"format": "parquet", "path": str(folder)})
    window = Window("events", AT - timedelta(days=8), AT - timedelta(days=1))
    profiled = threading.Semaphore(0)
    go_on = threading.Event()
    calls: list[str] = []
    results: dict[str, Any] = {}

    def scan(name: str) -> None:
        source = open_dataset("events", config.datasets["events"])
        profile = source.profile

        def slow_profile(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            profiled.release()
            assert go_on.wait(WAIT)
            return profile(*args, **kwargs)

        source.profile = slow_profile  # type: ignore[method-assign]
        results[name] = reference_profile(
            store, source, window, ["amount", "kind"], ProfileOptions()
        )

    first = threading.Thread(target=scan, args=("first",))
    first.start()
    assert profiled.acquire(timeout=WAIT)  # the first scan is computing the reference
    second = threading.Thread(target=scan, args=("second",))
    second.start()
    # The second scan waits on the first's computation (it has registered for the key).
    _until(lambda: any(holders == 2 for _, holders in reference_cache._IN_FLIGHT.values()))
    go_on.set()
    for thread in (first, second):
        thread.join(WAIT)
        assert not thread.is_alive()
    assert calls == ["first"]
    assert results["first"][1] is False and results["second"][1] is True
    assert results["second"][0] == results["first"][0]
    assert reference_cache._IN_FLIGHT == {}
    store.close()


def _until(condition: Any) -> None:
    """Wait until `condition()` holds (checked on every switch of threads), at most WAIT s."""
    done = threading.Event()
    deadline = threading.Timer(WAIT, done.set)
    deadline.start()
    try:
        while not condition():
            assert not done.is_set(), "the condition never held"
            done.wait(0.001)
    finally:
        deadline.cancel()
