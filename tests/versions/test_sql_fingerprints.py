"""A SQL table's version: the window's row count and order-independent hash sum, computed
in the engine; the same rows in another order give the same fingerprint, any change of a
row, a duplicate included, another."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from detectors.sources.sql import open_sql_source
from detectors.versions.sql_fingerprint import fingerprint_version, window_fingerprint
from tests.versions.scans import config_for, drift_monitor, scan

START = datetime(2025, 1, 1, tzinfo=UTC)
#: Three rows an hour over two days; the fingerprinted window is the second day.
ROWS = [(START + timedelta(minutes=20 * i), float(i), f"k{i % 3}") for i in range(144)]


def _duckdb_table(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE events (ts TIMESTAMPTZ, x DOUBLE, k VARCHAR)")
        connection.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)


def _fingerprint(path: Path) -> dict[str, Any]:
    source = open_sql_source(
        "events", url=str(path), table="events", sql_format="duckdb", time_column="ts"
    )
    return window_fingerprint(
        source.table, "ts", START + timedelta(days=1), START + timedelta(days=2)
    )


def test_duckdb_fingerprint_ignores_row_order_and_sees_every_change(tmp_path: Path) -> None:
    cases = {
        "same": ROWS,
        "reversed": ROWS[::-1],
        "one value": [*ROWS[:100], (ROWS[100][0], 999.0, ROWS[100][2]), *ROWS[101:]],
        "duplicate": [*ROWS, ROWS[100]],
        "outside the window": [*ROWS, (START, -1.0, "k9")],  # day 0: not in the window
    }
    prints = {}
    for name, rows in cases.items():
        _duckdb_table(tmp_path / f"{name}.duckdb", rows)
        prints[name] = _fingerprint(tmp_path / f"{name}.duckdb")
    same = prints["same"]
    assert same["rows"] == 72 and same["engine"] == "duckdb" and same["hash"] not in (None, "0")
    assert prints["reversed"]["hash"] == same["hash"]
    assert prints["outside the window"]["hash"] == same["hash"]
    assert prints["one value"]["hash"] != same["hash"] and prints["one value"]["rows"] == 72
    assert prints["duplicate"]["rows"] == 73
    # The documented aggregate over just the window's rows, in a database of their own.
    with duckdb.connect() as connection:
        connection.execute("CREATE TABLE w (ts TIMESTAMPTZ, x DOUBLE, k VARCHAR)")
        connection.executemany("INSERT INTO w VALUES (?, ?, ?)", ROWS[72:])
        expected = connection.execute("SELECT CAST(sum(hash(w)) AS VARCHAR) FROM w").fetchone()
    assert expected is not None and same["hash"] == expected[0]  # the documented aggregate


def test_fingerprint_version_id_depends_on_rows_hash_and_engine() -> None:
    window = {"rows": 3, "hash": "12", "engine": "duckdb", "engine_version": "2.0.1"}
    version = fingerprint_version({"current": window}, {"x": "float64"})
    assert version.kind == "sql" and version.schema == {"x": "float64"}
    assert fingerprint_version({"current": dict(window)}, {}).version == version.version
    for key, value in (("rows", 4), ("hash", "13"), ("engine_version", "2.1.0")):
        assert fingerprint_version({"current": {**window, key: value}}, {}).version != (
            version.version
        )


def test_a_scan_of_a_duckdb_table_records_the_window_fingerprint(store, tmp_path: Path):
    _duckdb_table(tmp_path / "w.duckdb", ROWS)
    config = config_for(
        store,
        {
            "events": {
                "format": "duckdb",
                "url": str(tmp_path / "w.duckdb"),
                "table": "events",
                "time_column": "ts",
            }
        },
        [drift_monitor("events", reference={"start": "2025-01-01", "end": "2025-01-01"})],
    )
    report = scan(config, store, START + timedelta(days=2))
    assert report["status"] in ("ok", "alert"), report["message"]
    assert report["dataset_version_kind"] == "sql" and report["dataset_version"]
    again = scan(config, store, START + timedelta(days=2))
    assert again["dataset_version"] == report["dataset_version"]


@pytest.mark.postgres
def test_postgres_fingerprint_ignores_row_order_and_reports_unhashable_types():
    import psycopg

    url = os.environ.get("WARDEN_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("WARDEN_TEST_POSTGRES_URL must name the test server", pytrace=False)
    suffix = os.getpid()
    tables = {name: f"fp_{name}_{suffix}" for name in ("a", "b", "j", "x")}
    with psycopg.connect(url, autocommit=True) as connection:
        for name, rows in (("a", ROWS), ("b", ROWS[::-1])):
            connection.execute(
                f"CREATE TABLE {tables[name]} (ts timestamptz, x double precision, k text)"
            )
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {tables[name]} VALUES (%s, %s, %s)", rows)
        for name, column, value in (("j", "json", '{"a": 1}'), ("x", "xml", "<a/>")):
            connection.execute(f"CREATE TABLE {tables[name]} (ts timestamptz, doc {column})")
            connection.execute(
                f"INSERT INTO {tables[name]} VALUES (%s, %s)", (START + timedelta(days=1), value)
            )
    try:
        prints = {}
        for name, table in tables.items():
            source = open_sql_source(
                name, url=url, table=table, sql_format="postgres", time_column="ts"
            )
            prints[name] = window_fingerprint(
                source.table, "ts", START + timedelta(days=1), START + timedelta(days=2)
            )
        assert prints["a"]["rows"] == 72 and prints["a"]["engine"] == "postgres"
        assert prints["a"]["hash"] == prints["b"]["hash"] and prints["a"]["hash"] is not None
        # json is read as text (Ibis casts it), so its rows hash; xml has no extended hash:
        # the row count stands alone, and says why
        assert prints["j"]["rows"] == 1 and prints["j"]["hash"] is not None
        assert prints["x"]["rows"] == 1 and prints["x"]["hash"] is None
        assert "extended hash function for type xml" in prints["x"]["hash_error"]
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            for table in tables.values():
                connection.execute(f"DROP TABLE IF EXISTS {table}")
