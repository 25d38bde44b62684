"""Windows are UTC whatever the time column's type: naive timestamps hold UTC, zoned ones are
converted, text is parsed; and the window filter reaches Parquet row-group statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.profiling import window_filter
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
