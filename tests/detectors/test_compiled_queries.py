"""A window's queries are compiled once per engine instance and rerun with new bounds
(issue 17, item 1): the SQL for any bounds is exactly what Ibis compiles for them, and the
profiles equal those of an engine that compiles every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.profiling import BOUND_PARAMETERS, parametrised_window, profile_window
from detectors.sources.compiled_queries import cache_compiled_queries
from detectors.sources.files import duckdb_connection, open_file_source

START = datetime(2025, 1, 1, tzinfo=UTC)


def _events(folder: Path, timezone: str | None) -> Path:
    rows = 3000
    times = [START + timedelta(minutes=5 * i) for i in range(rows)]
    if timezone is None:
        times = [t.replace(tzinfo=None) for t in times]
    table = pa.table(
        {
            "ts": pa.array(times, pa.timestamp("us", tz=timezone)),
            "amount": [float((i * 37) % 101) for i in range(rows)],
            "kind": [("a", "b", "c", "d")[i % 4 if i < 2000 else i % 2] for i in range(rows)],
        }
    )
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    return folder


def _open(folder: Path, connection):
    return open_file_source(
        "events", path=str(folder), file_format="parquet", time_column="ts", connection=connection
    )


@pytest.mark.parametrize("timezone", [None, "UTC"])
def test_the_sql_for_new_bounds_is_what_ibis_compiles_for_them(tmp_path: Path, timezone):
    folder = _events(tmp_path / "events", timezone)
    connection = duckdb_connection()
    plain_compile = connection.compile
    cache = cache_compiled_queries(connection)
    source = _open(folder, connection)
    for day in range(4):
        start, end = START + timedelta(days=day), START + timedelta(days=day + 1)
        window, bounds = parametrised_window(source.table, "ts", start, end)
        expr = window.aggregate(n=window.count(), total=window["amount"].sum()).as_table()
        assert cache(expr, params=bounds) == plain_compile(expr, params=bounds)
    assert (cache.misses, cache.hits) == (1, 3)  # the case: compiled once, reused thrice


@pytest.mark.parametrize("timezone", [None, "UTC"])
def test_profiles_through_the_cache_equal_profiles_compiled_every_time(tmp_path: Path, timezone):
    folder = _events(tmp_path / "events", timezone)
    cached_connection = duckdb_connection()
    cache = cache_compiled_queries(cached_connection)
    cached = _open(folder, cached_connection)
    fresh = _open(folder, duckdb_connection())
    reference = profile_window(
        fresh.table,
        dataset="events",
        time_column="ts",
        start=START,
        end=START + timedelta(days=3),
        columns=["amount", "kind"],
    )
    for day in range(3, 10):  # the last days hold fewer kinds, then no rows at all
        start, end = START + timedelta(days=day), START + timedelta(days=day + 1)
        profiles = [
            profile_window(
                source.table,
                dataset="events",
                time_column="ts",
                start=start,
                end=end,
                columns=["amount", "kind"],
                reference=reference,
            )
            for source in (cached, fresh)
        ]
        assert profiles[0] == profiles[1], day
    assert cache.hits > cache.misses > 0


def test_an_expression_without_its_sentinel_is_compiled_every_time(tmp_path: Path):
    """A parameter the expression does not use leaves no sentinel in the SQL: nothing is
    cached for it, and each call compiles what Ibis compiles."""
    folder = _events(tmp_path / "events", None)
    connection = duckdb_connection()
    plain_compile = connection.compile
    cache = cache_compiled_queries(connection)
    table = _open(folder, connection).table
    unused, _ = BOUND_PARAMETERS[True]
    expr = table.aggregate(n=table.count()).as_table()
    for day in range(2):
        params = {unused: datetime(2025, 1, 1 + day)}
        assert cache(expr, params=params) == plain_compile(expr, params=params)
    assert cache.hits == 0
    # Calls without parameters are passed through.
    assert cache(expr) == plain_compile(expr)
