"""The bench's CPU profile charges each thread's own CPU time to the kind of work its stack
shows (issue 17, item 4). Stacks are real frames of code compiled under chosen file names."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from daemon.runtime.cpu_profile import KIND_NAMES, CpuProfile, classify

#: CPU seconds the busy thread spends in "sqlglot" (compile).
BUSY_CPU = 0.3


def _load(path: str, source: str, names: dict[str, Any]) -> dict[str, Any]:
    """Run `source` as if it were the file at `path`: its functions' frames carry `path`."""
    scope = dict(names)
    exec(compile(source, path, "exec"), scope)
    return scope


def _stack(*paths: str) -> FrameType:
    """A real frame whose stack, innermost first, runs through files named `paths`."""
    call = "import sys\ndef here(inner):\n    return inner() if inner else sys._getframe()\n"
    inner = None
    for path in paths:  # innermost first: each wraps the previous
        here = _load(path, call, {})["here"]
        inner = (lambda f, i: lambda: f(i))(here, inner)
    assert inner is not None
    return inner()


def test_classify_by_precedence():
    assert classify(_stack("/venv/sqlalchemy/engine.py", "/w/daemon/store/audit.py")) == "audit"
    assert classify(_stack("/v/site-packages/duckdb/rel.py", "/w/detectors/profiling.py")) == (
        "execute"
    )
    assert classify(_stack("/venv/sqlglot/generator.py", "/w/detectors/profiling.py")) == (
        "compile"
    )
    assert classify(_stack("/venv/scipy/stats.py", "/w/detectors/drift/ks.py")) == "detector"
    assert classify(_stack("/venv/sqlalchemy/orm.py", "/w/daemon/scan/runner.py")) == "store"
    assert classify(_stack("/w/tests/elsewhere.py")) == "other"
    assert classify(None) == "other"
    # The query runner calls into the engine's C code, which shows no frame of its own.
    assert classify(_stack("/w/detectors/sql_runner.py", "/w/detectors/query_plans.py")) == (
        "execute"
    )
    # What is not a frame ends the stack (CPython 3.11 once handed over a datetime).
    assert classify(datetime(2025, 1, 1)) == "other"  # type: ignore[arg-type]


def test_compile_and_execute_are_told_apart_by_the_innermost_frame():
    """Ibis compiles inside its DuckDB backend's `execute`, and DuckDB runs inside Ibis: the
    frame nearest the CPU decides (the backend's own path names duckdb too)."""
    backend = "/v/site-packages/ibis/backends/duckdb/__init__.py"
    compiling = _stack("/v/site-packages/sqlglot/generator.py", backend, "/w/detectors/p.py")
    running = _stack("/v/site-packages/duckdb/_relation.py", backend, "/w/detectors/p.py")
    assert classify(compiling) == "compile"
    assert classify(running) == "execute"


def test_a_busy_thread_is_charged_to_what_it_runs(tmp_path: Path):
    source = (
        "import time\n"
        "def busy(go, done, release, cpu):\n"
        "    go.wait()\n"
        "    start = time.thread_time()\n"
        "    while time.thread_time() - start < cpu:\n"
        "        pass\n"
        "    done.set()\n"
        "    release.wait()\n"
    )
    busy = _load("/venv/sqlglot/busy.py", source, {})["busy"]
    go, done, release = threading.Event(), threading.Event(), threading.Event()
    worker = threading.Thread(target=busy, args=(go, done, release, BUSY_CPU))
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
    profile.write()
    written = json.loads((tmp_path / "profile.json").read_text())
    assert set(written["by_kind"]) == set(KIND_NAMES)
    assert written["by_kind"]["compile"] >= BUSY_CPU * 0.9
    assert written["process_cpu_seconds"] >= written["by_kind"]["compile"]
