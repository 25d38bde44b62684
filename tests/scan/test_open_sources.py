"""A daemon keeps its file datasets open between scans, and its PostgreSQL datasets'
connections (issue 17, item 3), and what it reuses never changes what a scan finds: new,
rewritten and removed files are seen, a changed table is seen, a dataset held by one scan
is not shared with another, a connection the server closed is replaced, and results equal
fresh opens."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.models import WardenConfig
from daemon.scan.open_sources import OpenSources
from daemon.scan.runner import run_scan, sync_monitors
from daemon.store.engine import Store
from tests.daemon.engine_cases import AT, engine_config, events_table


def _setup(folder: Path, store_url: str) -> tuple[WardenConfig, pa.Table]:
    table = events_table()
    half = table.num_rows // 2
    folder.mkdir()
    pq.write_table(table.slice(0, half), folder / "part-0.parquet")
    pq.write_table(table.slice(half), folder / "part-1.parquet")
    return engine_config(store_url, {"format": "parquet", "path": str(folder)}), table


def _rounded(value: object) -> object:
    """`value` with every float rounded to 9 significant digits."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


def _sorted(findings: object) -> list:
    assert isinstance(findings, list)
    return sorted(findings, key=lambda f: (f["pattern"], str(f["column"]), f["method"]))


def _opened_and_reused(sources: OpenSources) -> tuple[int, int, int]:
    stats = sources.stats()
    return stats["open"], stats["opened"], stats["reused"]


def _rows(source) -> int:
    return int(source.table.count().execute())


def test_unchanged_files_reuse_the_open_dataset_and_changed_files_reopen_it(tmp_path: Path):
    folder = tmp_path / "events"
    config, table = _setup(folder, "sqlite://")
    dataset = config.datasets["events"]
    sources = OpenSources()
    with sources.lease("events", dataset) as first:
        assert _rows(first) == table.num_rows
    with sources.lease("events", dataset) as second:
        assert second is first  # the case: nothing changed, nothing reopened
    assert _opened_and_reused(sources) == (1, 1, 1)

    # A new partition: opened again (on the same instance), and its rows are counted.
    pq.write_table(table.slice(0, 10), folder / "part-2.parquet")
    with sources.lease("events", dataset) as third:
        assert third is not first
        assert _rows(third) == table.num_rows + 10
    # A partition rewritten with another column: the schema follows the file.
    rewritten = table.slice(0, 5).append_column("extra", pa.array([1.0] * 5))
    pq.write_table(rewritten, folder / "part-2.parquet")
    with sources.lease("events", dataset) as fourth:
        assert fourth is not third
        assert _rows(fourth) == table.num_rows + 5
    # A partition removed.
    (folder / "part-2.parquet").unlink()
    with sources.lease("events", dataset) as fifth:
        assert _rows(fifth) == table.num_rows
    assert _opened_and_reused(sources) == (1, 4, 1)


def test_a_dataset_in_use_is_never_handed_to_a_second_scan(tmp_path: Path):
    config, table = _setup(tmp_path / "events", "sqlite://")
    dataset = config.datasets["events"]
    sources = OpenSources(per_dataset=2)
    held = threading.Event()
    release = threading.Event()
    seen: dict[str, object] = {}

    def first_scan() -> None:
        with sources.lease("events", dataset) as source:
            seen["first"] = source
            held.set()
            release.wait(60)

    worker = threading.Thread(target=first_scan)
    worker.start()
    assert held.wait(60)
    try:
        # Another scan meanwhile gets a second kept instance at once, rather than waiting
        # for the held one or sharing its connection; with both held (the same scan asking
        # twice), a private one, opened afresh each time.
        with sources.lease("events", dataset) as second:
            assert second is not seen["first"]
            assert _rows(second) == table.num_rows
            with sources.lease("events", dataset) as third:
                assert third is not seen["first"] and third is not second
                assert _rows(third) == table.num_rows
            with sources.lease("events", dataset) as fourth:
                assert fourth is not third and fourth is not second
        seen["second"] = second
    finally:
        release.set()
        worker.join(60)
    assert not worker.is_alive()
    with sources.lease("events", dataset) as again:
        assert again is seen["first"]
        with sources.lease("events", dataset) as other:
            assert other is seen["second"]
    assert sources.stats()["open"] == 2


def test_beyond_capacity_the_least_recently_used_dataset_is_closed(tmp_path: Path):
    config, _ = _setup(tmp_path / "events", "sqlite://")
    dataset = config.datasets["events"]
    other = dataset.model_copy(update={"time_format": None, "entity_column": None})
    sources = OpenSources(capacity=1)
    with sources.lease("events", dataset) as first:
        pass
    with sources.lease("events", other):
        pass
    assert sources.stats()["open"] == 1
    with sources.lease("events", dataset) as again:
        assert again is not first  # it was closed, so it was opened anew
    with pytest.raises(ValueError):
        OpenSources(capacity=0)
    with pytest.raises(ValueError):
        OpenSources(per_dataset=0)


def test_scans_through_kept_datasets_find_what_fresh_scans_find(
    store: Store, store_url: str, tmp_path: Path
):
    folder = tmp_path / "events"
    config, _ = _setup(folder, store_url)
    sync_monitors(store, config)
    sources = OpenSources()
    kept_status: dict[tuple[int, str], str] = {}
    for day in range(3):  # three ticks: the first opens, the next reuse
        at = AT - timedelta(days=2 - day)
        for monitor in config.monitors:
            kept = run_scan(config, monitor, at, store, claimed_by="kept", sources=sources)
            fresh = run_scan(config, monitor, at, store, claimed_by="fresh")
            assert kept is not None and fresh is not None
            assert kept.status == fresh.status, monitor.name
            # DuckDB sums floats in parallel, in no fixed order: the last bits may differ.
            # The order of findings follows the reference's columns, which PostgreSQL's
            # JSONB reorders once the reference is cached: compare them as a set.
            assert _sorted(_rounded(kept.findings)) == _sorted(_rounded(fresh.findings))
            kept_status[(day, monitor.name)] = kept.status
    assert sources.stats()["reused"] > 0
    # Queries are compiled once (by the kept or the fresh scans, which share them): later
    # ticks rerun their SQL.
    assert sources.stats()["compile_reused"] > sources.stats()["compiled"]
    # The last day drifts (engine_cases) and the days before do not: the kept datasets saw
    # both, as the fresh ones did.
    assert kept_status[(0, "drift")] == "ok"
    assert kept_status[(2, "drift")] == "alert"


@pytest.fixture
def postgres_events() -> Iterator[str]:
    """The URL of a scratch PostgreSQL database holding the events as table `events`."""
    import ibis

    from tests.conftest import _fresh_postgres_database

    for url in _fresh_postgres_database():
        backend = ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))
        try:
            backend.create_table("events", events_table().to_pandas())
        finally:
            backend.disconnect()
        yield url


def _server_pid(source) -> int:
    return int(source.table.get_backend().raw_sql("SELECT pg_backend_pid()").fetchone()[0])


def test_a_postgres_dataset_keeps_its_connection_and_still_sees_table_changes(
    postgres_events: str,
):
    """Each scan opens the table again on the kept connection (a column added is seen);
    a connection the server closed is replaced at the next scan, which succeeds."""
    config = engine_config(
        "sqlite://", {"format": "postgres", "url": postgres_events, "table": "events"}
    )
    dataset = config.datasets["events"]
    sources = OpenSources()
    with sources.lease("events", dataset) as first:
        pid = _server_pid(first)
        columns = set(first.columns())
    with sources.lease("events", dataset) as second:
        assert _server_pid(second) == pid  # the case: the same server connection
        second.table.get_backend().raw_sql("ALTER TABLE events ADD COLUMN note TEXT").close()
    with sources.lease("events", dataset) as third:
        assert set(third.columns()) == columns | {"note"}
        assert _server_pid(third) == pid
    assert _opened_and_reused(sources) == (1, 1, 2)

    import sqlalchemy as sa

    admin = sa.create_engine(postgres_events)
    with admin.connect() as connection:  # the server ends the kept connection
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    with sources.lease("events", dataset) as fourth:
        assert _server_pid(fourth) != pid
        assert _rows(fourth) == events_table().num_rows
    assert _opened_and_reused(sources) == (1, 2, 2)
