"""Compiled queries outlive the process (issue 17, item 1): a `warden scan` run again in a
new process builds and compiles nothing an earlier one compiled, imports no expression
layer (Ibis, SQLGlot, PyArrow), and finds the same; a schema change builds them again; a
damaged archive only costs a compile.

Each scan runs in a fresh Python process (`_PROBE`), which counts the queries and literals
Ibis compiled for it by wrapping the three methods of `QueryPlans` that call the compiler,
and lists which of the expression layer's packages it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from daemon.scan.plan_archive import StorePlanArchive
from daemon.store.engine import Store, open_store
from daemon.store.models import CompiledQueryPlan, Monitor
from detectors.plan_records import NotStable, code_version, stable_text

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 1, tzinfo=UTC)
AT = "2025-01-03T00:00:00+00:00"

#: Runs `warden scan --json` in this new process; prints its reports, then one line of
#: counts: {"compiled": queries Ibis compiled, "literals": literals it compiled, "loaded":
#: the packages of the expression layer it imported}.
_PROBE = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from detectors import query_plans

    counts = {"compiled": 0, "literals": 0}
    for method, kind in (
        ("_compile", "compiled"),
        ("_compile_with_values", "compiled"),
        ("_compile_literal", "literals"),
    ):
        original = getattr(query_plans.QueryPlans, method)

        def counting(self, *args, _original=original, _kind=kind, **kwargs):
            counts[_kind] += 1
            return _original(self, *args, **kwargs)

        setattr(query_plans.QueryPlans, method, counting)
    from daemon.cli.app import main

    sys.argv = ["warden", "scan", "-c", sys.argv[1], "--at", sys.argv[2], "--json"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        main()
    print(printed.getvalue().strip())
    layer = ("ibis", "sqlglot", "pyarrow")
    counts["loaded"] = sorted(name for name in layer if name in sys.modules)
    print(json.dumps(counts))
    """
)


def _write_events(folder: Path, *, extra_column: bool = False) -> None:
    """Two days of events every 30 s (2,880 a day); the second day's amounts shifted."""
    rows = 2 * 2880
    times = [START + timedelta(seconds=30 * i) for i in range(rows)]
    columns: dict[str, Any] = {
        "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
        "amount": [float(i % 97) + (40.0 if i >= 2880 else 0.0) for i in range(rows)],
        "kind": [("a", "b", "c")[i % 3] for i in range(rows)],
    }
    if extra_column:
        columns["score"] = [float(i % 13) for i in range(rows)]
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.table(columns), folder / "part-0.parquet")


def _config(tmp_path: Path, store_url: str, dataset: str | None = None) -> Path:
    """A drift and a freshness monitor of the events: the Parquet folder, or `dataset` (the
    dataset's config as YAML flow text)."""
    data = tmp_path / "events"
    _write_events(data)
    if dataset is None:
        dataset = f"{{format: parquet, path: '{data}', time_column: ts}}"
    config = tmp_path / "warden.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            store: {{url: '{store_url}'}}
            playbooks: {{work_root: '{tmp_path / "work"}'}}
            datasets:
              events: {dataset}
            routes:
              - {{match: {{}}, playbook: null}}
            monitors:
              - name: drift
                kind: drift
                dataset: events
                reference: {{start: '2025-01-01', end: '2025-01-02'}}
                window: 1d
              - name: fresh
                kind: freshness
                dataset: events
                max_lag: 2h
                expected_every: 1h
            """
        )
    )
    return config


def _scan(config: Path) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(the reports `warden scan --json` printed, the compile counts) of a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(config), AT],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines[:-1]], json.loads(lines[-1])


def _verdicts(reports: list[dict[str, Any]]) -> list[Any]:
    return [
        (
            report["monitor"],
            report["status"],
            sorted(
                (f["pattern"], f["column"], f["statistic"], f["alert"]) for f in report["findings"]
            ),
        )
        for report in reports
    ]


def test_a_new_process_compiles_nothing_an_earlier_scan_compiled(
    tmp_path: Path, store_url: str
) -> None:
    config = _config(tmp_path, store_url)
    first, first_counts = _scan(config)
    assert {r["monitor"]: r["status"] for r in first} == {"drift": "alert", "fresh": "ok"}
    assert first_counts["compiled"] > 0
    assert first_counts["loaded"] == ["ibis", "pyarrow", "sqlglot"]
    again, again_counts = _scan(config)
    assert again_counts == {"compiled": 0, "literals": 0, "loaded": []}
    assert _verdicts(again) == _verdicts(first)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["postgres", "spark"])
def test_a_new_process_compiles_nothing_on_postgres_and_spark_either(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """Kept plans are the engine's own SQL: a second process on a PostgreSQL table or a
    Spark source compiles nothing either (these sources are opened through Ibis, which
    they need to connect: only file datasets are reopened without it)."""
    store_url = f"sqlite:///{tmp_path / 'warden.db'}"
    if engine == "postgres":
        url = request.getfixturevalue("postgres_events")
        dataset = f"{{format: postgres, url: '{url}', table: events, time_column: ts}}"
    else:
        master = request.getfixturevalue("spark_master")
        dataset = (
            f"{{format: spark, url: '{master}', path: '{tmp_path / 'events'}', time_column: ts}}"
        )
    config = _config(tmp_path, store_url, dataset)
    first, first_counts = _scan(config)
    assert {r["monitor"]: r["status"] for r in first} == {"drift": "alert", "fresh": "ok"}
    assert first_counts["compiled"] > 0
    again, again_counts = _scan(config)
    assert (again_counts["compiled"], again_counts["literals"]) == (0, 0)
    assert _verdicts(again) == _verdicts(first)


@pytest.fixture
def postgres_events(tmp_path: Path) -> Iterator[str]:
    """The URL of a scratch PostgreSQL database whose table `events` holds the events."""
    import ibis

    from tests.conftest import _fresh_postgres_database

    _write_events(tmp_path / "source")
    events = pq.read_table(tmp_path / "source" / "part-0.parquet")
    for url in _fresh_postgres_database():
        backend = ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))
        try:
            backend.create_table("events", events.to_pandas())
        finally:
            backend.disconnect()
        yield url


def test_a_schema_change_builds_the_queries_again(tmp_path: Path, store_url: str) -> None:
    config = _config(tmp_path, store_url)
    first, _ = _scan(config)
    _write_events(tmp_path / "events", extra_column=True)
    changed, changed_counts = _scan(config)
    assert changed_counts["compiled"] > 0
    # the new column is profiled too; the old ones are found as before
    columns = {f["column"] for r in changed for f in r["findings"] if r["monitor"] == "drift"}
    assert "score" in columns
    old = [v for v in _verdicts(first) if v[0] == "fresh"]
    assert [v for v in _verdicts(changed) if v[0] == "fresh"] == old
    assert _scan(config)[1] == {"compiled": 0, "literals": 0, "loaded": []}


def test_a_damaged_plan_is_compiled_again(tmp_path: Path, store_url: str) -> None:
    config = _config(tmp_path, store_url)
    first, _ = _scan(config)
    store = open_store(store_url)
    try:
        with store.session() as session:
            plans = session.exec(sa.select(CompiledQueryPlan)).scalars().all()
            assert plans
            for number, plan in enumerate(plans):
                # not JSON, a JSON list, SQL missing its sentinels, a number for SQL
                plan.record = [
                    "{",
                    "[1]",
                    '{"sql": "SELECT 1", "sentinels": [["utc_low", "x"]], "columns": ["n"]}',
                    '{"sql": 5, "sentinels": [], "columns": []}',
                ][number % 4]
                session.add(plan)
    finally:
        store.close()
    again, counts = _scan(config)
    assert counts["compiled"] > 0
    assert _verdicts(again) == _verdicts(first)


def test_plans_of_another_code_version_are_deleted_and_a_plan_is_written_once(
    store: Store,
) -> None:
    with store.session() as session:
        session.add(
            CompiledQueryPlan(plan_id="0" * 64, identity_id="t", code_version="old", record="{}")
        )
    archives = [StorePlanArchive(store), StorePlanArchive(store)]
    for archive in archives:  # two processes compile the same query at once
        archive.save("t", "1" * 64, {"sql": "SELECT 1", "sentinels": [], "columns": ["x"]})
    for archive in archives:
        with store.session() as session:
            assert archive.flush(session) == 1
    with store.session(readonly=True) as session:
        rows = session.exec(sa.select(CompiledQueryPlan.plan_id, CompiledQueryPlan.code_version))
        assert sorted(rows.all()) == [("1" * 64, code_version())]
    assert archives[0].load("t") == {
        "1" * 64: {"sql": "SELECT 1", "sentinels": [], "columns": ["x"]}
    }
    assert archives[0].load("another table") == {}


def test_a_record_that_replaces_its_group_deletes_the_older_ones_when_written(
    store: Store,
) -> None:
    """A file dataset's opening record replaces its older ones (one per dataset is kept):
    in the process before the flush, and in the store by the flush."""
    archive = StorePlanArchive(store)
    archive.save("dataset", "a" * 64, {"state": 1}, replace=True)
    with store.session() as session:
        assert archive.flush(session) == 1
    archive.save("other", "b" * 64, {"state": 1}, replace=True)
    archive.save("dataset", "c" * 64, {"state": 2}, replace=True)
    archive.save("dataset", "d" * 64, {"state": 3}, replace=True)
    assert archive.load("dataset") == {"a" * 64: {"state": 1}, "d" * 64: {"state": 3}}
    with store.session() as session:
        assert archive.flush(session) == 2
    assert archive.load("dataset") == {"d" * 64: {"state": 3}}
    assert archive.load("other") == {"b" * 64: {"state": 1}}


def test_plans_that_cannot_be_written_never_cost_the_transaction_its_own_writes(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'warden.db'}")
    archive = StorePlanArchive(store)
    with store.connect() as connection:
        connection.execute(sa.text("DROP TABLE compiled_query"))
        connection.commit()
    archive.save("t", "1" * 64, {"sql": "SELECT 1", "sentinels": [], "columns": ["x"]})
    with store.session() as session:
        session.add(Monitor(name="m", kind="drift", dataset="d", config={}, config_hash="h"))
        assert archive.flush(session) == 0
    with store.session(readonly=True) as session:
        assert session.get(Monitor, "m") is not None
    store.close()


def test_a_store_that_cannot_be_read_only_costs_a_compile(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'gone.db'}")
    archive = StorePlanArchive(store)
    with store.connect() as connection:
        connection.execute(sa.text("DROP TABLE compiled_query"))
        connection.commit()
    assert archive.load("t") == {}
    store.close()


def test_plan_keys_are_written_alike_by_every_process() -> None:
    key = (("aggregate", "ts", ("a", "b"), (0.1, 1e300, -0.0), None, True), 7)
    assert stable_text(key) == ('(("aggregate","ts",("a","b"),(0.1,1e+300,-0.0),null,true),7)')
    assert stable_text(frozenset({"b", "a"})) == stable_text(frozenset({"a", "b"}))
    assert stable_text(datetime(2025, 1, 2, tzinfo=UTC)) == "@2025-01-02T00:00:00+00:00"
    with pytest.raises(NotStable):
        stable_text(("x", object()))
