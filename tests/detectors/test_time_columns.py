"""Windows are UTC whatever the time column's type: naive timestamps hold UTC, zoned ones are
converted, text is parsed; and the window filter reaches Parquet row-group statistics. A time
column of any other type (epoch numbers, times of day) is refused when the dataset is opened,
with what to do instead, rather than failing in the middle of a scan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.profile_queries import window_filter
from detectors.sources.errors import SourceError
from detectors.sources.files import open_file_source
from detectors.sources.sql import open_sql_source

DAY = datetime(2025, 3, 1, tzinfo=UTC)
#: Hourly rows over three days; the middle day is the window under test.
HOURS = [DAY - timedelta(days=1) + timedelta(hours=h) for h in range(72)]


def _times(unit: str, zone: str | None) -> pa.Array:
    values = [t.replace(tzinfo=None) for t in HOURS] if zone is None else HOURS
    return pa.array(values, pa.timestamp(unit, tz=zone))


@pytest.mark.parametrize(
    ("unit", "zone"),
    [("us", None), ("ns", None), ("ms", None), ("us", "UTC"), ("ns", "UTC"), ("us", "+05:00")],
)
def test_parquet_time_types_give_utc_windows(tmp_path: Path, unit: str, zone: str | None):
    table = pa.table({"ts": _times(unit, zone), "x": [float(h) for h in range(72)]})
    # Row groups of one day each, as partitioned data would have.
    pq.write_table(table, tmp_path / "events.parquet", row_group_size=24)
    source = open_file_source(
        "d", path=str(tmp_path / "events.parquet"), file_format="parquet", time_column="ts"
    )
    profile = source.profile(DAY, DAY + timedelta(days=1), ["x"])
    assert profile.rows == 24
    # The window is hours 24..47 of the series: exactly the middle day in UTC.
    assert (profile.columns["x"].minimum, profile.columns["x"].maximum) == (24.0, 47.0)
    timeline = source.timeline(DAY, DAY + timedelta(days=1), timedelta(hours=6))
    assert timeline.counts == (6, 6, 6, 6)
    assert timeline.latest == DAY + timedelta(hours=23)
    # The window filter reaches the Parquet reader: it reads one day's row group of three.
    window = window_filter(source.table, "ts", DAY, DAY + timedelta(days=1))
    backend = source.table.get_backend()
    plan = backend.raw_sql(f"EXPLAIN ANALYZE {backend.compile(window.x.sum())}").fetchall()
    assert "Row Groups Scanned: 1 / 3" in plan[0][1]


def test_csv_text_times_give_utc_windows(tmp_path: Path):
    lines = ["ts,x"] + [f"{t.isoformat()},{h}" for h, t in enumerate(HOURS)]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    source = open_file_source(
        "d", path=str(tmp_path / "events.csv"), file_format="csv", time_column="ts"
    )
    profile = source.profile(DAY, DAY + timedelta(days=1), ["x"])
    assert profile.rows == 24
    assert (profile.columns["x"].minimum, profile.columns["x"].maximum) == (24.0, 47.0)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_naive_postgres_column_windows_are_utc_and_use_its_index(store_url: str):
    import psycopg

    url = store_url.replace("postgresql+psycopg://", "postgresql://")
    minutes = [DAY - timedelta(days=20) + timedelta(minutes=m) for m in range(40 * 24 * 60)]
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE events (ts timestamp without time zone, x double precision)"
        )
        with connection.cursor().copy("COPY events (ts, x) FROM STDIN") as copy:
            for instant in minutes:
                copy.write_row((instant.replace(tzinfo=None), float(instant.hour)))
        connection.execute("CREATE INDEX events_ts ON events (ts)")
        connection.execute("ANALYZE events")
    source = open_sql_source("d", url=url, table="events", sql_format="postgres", time_column="ts")
    profile = source.profile(DAY, DAY + timedelta(days=1), ["x"])
    assert profile.rows == 24 * 60
    assert (profile.columns["x"].minimum, profile.columns["x"].maximum) == (0.0, 23.0)

    # One day of forty: the window predicate stays one the planner can answer from the index.
    window = window_filter(source.table, "ts", DAY, DAY + timedelta(days=1))
    backend = source.table.get_backend()
    plan = backend.raw_sql(f"EXPLAIN {backend.compile(window.count())}").fetchall()
    assert any("Index" in line for (line,) in plan), plan


def _open_parquet(tmp_path: Path, times: pa.Array):
    pq.write_table(
        pa.table({"ts": times, "x": [float(h) for h in range(72)]}), tmp_path / "events.parquet"
    )
    return open_file_source(
        "d", path=str(tmp_path / "events.parquet"), file_format="parquet", time_column="ts"
    )


@pytest.mark.parametrize(
    "times",
    [
        pa.array([t.date() for t in HOURS], pa.date32()),
        pa.array([t.isoformat() for t in HOURS]),
        pa.array([t.isoformat() for t in HOURS], pa.large_string()),
    ],
    ids=["date", "iso-text", "iso-large-text"],
)
def test_parquet_dates_and_iso_text_are_time_columns(tmp_path: Path, times: pa.Array):
    source = _open_parquet(tmp_path, times)
    profile = source.profile(DAY, DAY + timedelta(days=1), ["x"])
    assert profile.rows == 24
    assert (profile.columns["x"].minimum, profile.columns["x"].maximum) == (24.0, 47.0)


def test_csv_dates_are_time_columns(tmp_path: Path):
    lines = ["ts,x"] + [f"{t.date().isoformat()},{h}" for h, t in enumerate(HOURS)]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    source = open_file_source(
        "d", path=str(tmp_path / "events.csv"), file_format="csv", time_column="ts"
    )
    # A date is its midnight: the whole middle day falls in the window's first hour.
    timeline = source.timeline(DAY, DAY + timedelta(days=1), timedelta(hours=6))
    assert timeline.counts == (24, 0, 0, 0)


def _file_type_error(type_name: str) -> str:
    return (
        f"dataset 'd': time column 'ts' is {type_name}; it must be a timestamp, a date, or text "
        "in ISO 8601 (epoch numbers are not read as times: write them as timestamps, e.g. with "
        'pandas `pd.to_datetime(df["ts"], unit="s")` for seconds)'
    )


@pytest.mark.parametrize(
    ("times", "type_name"),
    [
        (pa.array([t.timestamp() for t in HOURS]), "double"),
        (pa.array([int(t.timestamp()) for t in HOURS]), "bigint"),
        (pa.array([int(t.timestamp()) for t in HOURS], pa.int32()), "integer"),
        (pa.array([t.time() for t in HOURS], pa.time64("us")), "time"),
    ],
    ids=["epoch-double", "epoch-int64", "epoch-int32", "time-of-day"],
)
def test_parquet_time_columns_of_other_types_are_refused(
    tmp_path: Path, times: pa.Array, type_name: str
):
    with pytest.raises(SourceError) as raised:
        _open_parquet(tmp_path, times)
    assert str(raised.value) == _file_type_error(type_name)


def test_csv_epoch_numbers_are_refused(tmp_path: Path):
    lines = ["ts,x"] + [f"{int(t.timestamp())},{h}" for h, t in enumerate(HOURS)]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceError) as raised:
        open_file_source(
            "d", path=str(tmp_path / "events.csv"), file_format="csv", time_column="ts"
        )
    assert str(raised.value) == _file_type_error("bigint")


#: (SQL type of the time column, how a row's time is written in that type, Ibis type shown).
SQL_TIME_TYPES = {
    "timestamp": ("timestamp", lambda t: t.replace(tzinfo=None), None),
    "timestamptz": ("timestamptz", lambda t: t, None),
    "date": ("date", lambda t: t.date(), None),
    "double": ("double precision", lambda t: t.timestamp(), "float64"),
    "bigint": ("bigint", lambda t: int(t.timestamp()), "int64"),
    "text": ("text", lambda t: t.isoformat(), "string"),
}


def _create_tables(execute: Callable[..., object]) -> None:
    """A table per time type, and the converting views that the refusals advise."""
    for name, (sql_type, value, _) in SQL_TIME_TYPES.items():
        execute(f"CREATE TABLE events_{name} (ts {sql_type}, x double precision)")
        for hour, instant in enumerate(HOURS):
            execute(f"INSERT INTO events_{name} VALUES (%s, %s)", (value(instant), float(hour)))
    execute("CREATE VIEW events_epoch AS SELECT to_timestamp(ts) AS ts, x FROM events_double")
    execute("CREATE VIEW events_iso AS SELECT CAST(ts AS TIMESTAMPTZ) AS ts, x FROM events_text")


def _check_time_types(url: str, sql_format: str) -> None:
    """Timestamps and dates open; the rest are refused with the advice, and the advice (a
    converting view) works."""
    for name, (_, _, refused_as) in SQL_TIME_TYPES.items():
        table = f"events_{name}"
        if refused_as is None:
            source = open_sql_source(
                "d", url=url, table=table, sql_format=sql_format, time_column="ts"
            )
            assert source.profile(DAY, DAY + timedelta(days=1), ["x"]).rows == 24, name
            continue
        with pytest.raises(SourceError) as raised:
            open_sql_source("d", url=url, table=table, sql_format=sql_format, time_column="ts")
        if refused_as == "string":
            # Text is read with the dataset's `time_format` (tests/detectors/test_time_format.py).
            assert str(raised.value) == (
                "dataset 'd': time column 'ts' is text; set `time_format` on the dataset to say "
                'how to read it (like time_format: "%Y-%m-%d %H:%M:%S"), or convert it in a '
                "view over the table, e.g. `CAST(ts AS TIMESTAMPTZ)` for ISO 8601 text"
            )
            source = open_sql_source(
                "d",
                url=url,
                table=table,
                sql_format=sql_format,
                time_column="ts",
                time_format="%Y-%m-%dT%H:%M:%S%z",
            )
            assert source.profile(DAY, DAY + timedelta(days=1), ["x"]).rows == 24, name
            continue
        assert str(raised.value) == (
            f"dataset 'd': time column 'ts' is {refused_as}; it must be a timestamp or a date "
            "(convert epoch numbers or text in a view over the table, e.g. `to_timestamp(ts)` "
            "for epoch seconds or `CAST(ts AS TIMESTAMPTZ)` for ISO 8601 text)"
        )
    for view in ("events_epoch", "events_iso"):
        source = open_sql_source("d", url=url, table=view, sql_format=sql_format, time_column="ts")
        profile = source.profile(DAY, DAY + timedelta(days=1), ["x"])
        assert profile.rows == 24, view
        assert (profile.columns["x"].minimum, profile.columns["x"].maximum) == (24.0, 47.0)


def test_duckdb_table_time_column_types(tmp_path: Path):
    import duckdb

    database = tmp_path / "events.duckdb"
    # Closed before the source opens the file read-only (DuckDB allows one mode per process).
    with duckdb.connect(str(database)) as connection:
        _create_tables(
            lambda sql, parameters=(): connection.execute(sql.replace("%s", "?"), parameters)
        )
    _check_time_types(str(database), "duckdb")


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgres_table_time_column_types(store_url: str):
    import psycopg

    url = store_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        _create_tables(connection.execute)
    _check_time_types(url, "postgres")
