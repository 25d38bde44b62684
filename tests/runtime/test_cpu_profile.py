"""The bench's CPU profile charges each thread's own CPU time to the kind of work the thread
marked itself as doing (issue 17, item 4), without reading other threads' frames (which
crashed the daemon on CPython 3.11)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import duckdb

from daemon.runtime.cpu_profile import KIND_NAMES, CpuProfile, thread_cpu_seconds
from daemon.store.engine import open_store
from detectors.sql_runner import run_sql
from detectors.work_labels import current, doing

#: CPU seconds the busy thread spends in each block.
BUSY_CPU = 0.3


def _spin(seconds: float) -> None:
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


def test_the_innermost_mark_is_the_threads_kind_of_work():
    me = threading.get_ident()
    assert current(me) is None
    with doing("store"):
        assert current(me) == "store"
        with doing("audit"):
            assert current(me) == "audit"
        assert current(me) == "store"
        seen: list[str | None] = []
        other = threading.Thread(target=lambda: seen.append(current(threading.get_ident())))
        other.start()
        other.join()
        assert seen == [None]  # marks belong to the thread that made them
    assert current(me) is None


def test_the_code_marks_its_work(tmp_path):
    """The marks sit where the work is: a planned query runs as `execute`, a store
    transaction is `store`."""
    seen: list[str | None] = []

    class Backend:
        name = "duckdb"
        con = duckdb.connect()

    Backend.con.create_function(
        "seen", lambda: seen.append(current(threading.get_ident())) or 1, [], "INTEGER"
    )  # type: ignore[arg-type]
    assert run_sql(Backend(), "SELECT seen()") == [(1,)]
    store = open_store(f"sqlite:///{tmp_path / 'warden.db'}")
    with store.session() as _:
        seen.append(current(threading.get_ident()))
    store.close()
    assert seen == ["execute", "store"]


def test_a_busy_thread_is_charged_to_what_it_marked(tmp_path: Path):
    go, done, release = threading.Event(), threading.Event(), threading.Event()

    def busy() -> None:
        go.wait()
        with doing("compile"):
            _spin(BUSY_CPU)
        _spin(BUSY_CPU)  # unmarked: other
        done.set()
        release.wait()

    worker = threading.Thread(target=busy)
    worker.start()
    profile = CpuProfile(tmp_path / "profile.json")
    profile.sample()  # the baseline of every thread's clock
    go.set()
    while not done.wait(0.005):  # a sample every 5 ms until the busy thread is done
        profile.sample()
    profile.sample()
    release.set()
    worker.join()
    assert profile.seconds["compile"] >= BUSY_CPU * 0.9
    assert profile.seconds["other"] >= BUSY_CPU * 0.9
    profile.write()
    written = json.loads((tmp_path / "profile.json").read_text())
    assert set(written["by_kind"]) == set(KIND_NAMES)
    assert written["by_kind"]["compile"] >= BUSY_CPU * 0.9
    assert written["process_cpu_seconds"] >= written["by_kind"]["compile"]


def test_an_ended_threads_clock_is_not_read():
    """Read by kernel thread id: an ended thread gives no figure (reading the clock of a
    pthread that has ended is undefined behaviour, the kernel id gives an error)."""
    worker = threading.Thread(target=_spin, args=(0.01,))
    worker.start()
    worker.join()
    assert worker.native_id is not None
    task = Path(f"/proc/self/task/{worker.native_id}")
    deadline = time.monotonic() + 10
    while task.exists():  # join returns before the kernel thread is gone
        assert time.monotonic() < deadline, "the ended thread's kernel task stayed"
        time.sleep(0.001)
    assert thread_cpu_seconds(worker) is None
    used = thread_cpu_seconds(threading.current_thread())
    assert used is not None and used > 0
