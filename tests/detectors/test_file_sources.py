"""File datasets: folders, globs, CSV, unreadable files and clear errors for bad paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.sources.errors import SourceError
from detectors.sources.files import open_file_source

DAY = datetime(2025, 3, 1, tzinfo=UTC)


def _write_day(folder: Path, day: int, rows: int = 24, unit: str = "ns") -> Path:
    start = DAY + timedelta(days=day)
    table = pa.table(
        {
            "ts": pa.array(
                [start + timedelta(hours=h) for h in range(rows)], pa.timestamp(unit, tz="UTC")
            ),
            "x": [float(h) for h in range(rows)],
        }
    )
    target = folder / f"date={start.date()}" / "part-0.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, target)
    return target


def test_hive_folder_with_nanosecond_times_and_a_corrupt_partition(tmp_path: Path):
    for day in range(3):
        _write_day(tmp_path, day)
    corrupt = tmp_path / "date=2025-03-04" / "part-0.parquet"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"PAR1 this is not a parquet file")
    source = open_file_source("d", path=str(tmp_path), file_format="parquet", time_column="ts")
    assert [item.path for item in source.unreadable] == [str(corrupt.resolve())]
    profile = source.profile(DAY, DAY + timedelta(days=1), ["x"])
    assert profile.rows == 24
    timeline = source.timeline(DAY, DAY + timedelta(days=3), timedelta(days=1))
    assert timeline.counts == (24, 24, 24)
    assert timeline.latest == DAY + timedelta(days=2, hours=23)
    assert "x" in source.default_columns() and "date" not in source.default_columns()


def test_excluded_files_are_not_read(tmp_path: Path):
    kept = _write_day(tmp_path, 0)
    dropped = _write_day(tmp_path, 1)
    source = open_file_source(
        "d", path=str(tmp_path), file_format="parquet", time_column="ts", excluded=[str(dropped)]
    )
    assert source.timeline(DAY, DAY + timedelta(days=2), timedelta(days=1)).counts == (24, 0)
    assert kept.exists() and dropped.exists()


def test_glob_and_csv(tmp_path: Path):
    (tmp_path / "a.csv").write_text("ts,x\n2025-03-01T00:00:00,1\n2025-03-01T01:00:00,2\n")
    (tmp_path / "b.csv").write_text("ts,x\n2025-03-02T00:00:00,3\n")
    source = open_file_source(
        "d", path=str(tmp_path / "*.csv"), file_format="csv", time_column="ts"
    )
    # Naive CSV times are UTC.
    assert source.timeline(DAY, DAY + timedelta(days=2), timedelta(days=1)).counts == (2, 1)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("does/not/exist", "does not exist"),
        ("nothing-matches-*.parquet", "no file matches"),
    ],
)
def test_missing_paths_are_clear(tmp_path: Path, path: str, message: str):
    with pytest.raises(SourceError, match=message):
        open_file_source("d", path=str(tmp_path / path), file_format="parquet", time_column="ts")


def test_empty_folder_missing_time_column_and_all_files_corrupt(tmp_path: Path):
    with pytest.raises(SourceError, match="holds no parquet files"):
        open_file_source("d", path=str(tmp_path), file_format="parquet", time_column="ts")
    _write_day(tmp_path, 0)
    with pytest.raises(
        SourceError, match="time column 'when' is not in the data; columns are: ts, x, date"
    ):
        open_file_source("d", path=str(tmp_path), file_format="parquet", time_column="when")
    other = tmp_path / "broken"
    other.mkdir()
    (other / "a.parquet").write_bytes(b"junk")
    with pytest.raises(SourceError, match=r"none of the 1 files .* can be read"):
        open_file_source("d", path=str(other), file_format="parquet", time_column="ts")


def test_a_partition_with_a_changed_schema_is_named_by_its_path(tmp_path: Path):
    """Day 3's file writes `x` as text: one schema_change, for that file only."""
    from detectors.quality.checks import detect_quality

    for day in range(3):
        _write_day(tmp_path, day, unit="us")
    start = DAY + timedelta(days=3)
    changed = tmp_path / f"date={start.date()}" / "part-0.parquet"
    changed.parent.mkdir()
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(
                    [start + timedelta(hours=h) for h in range(24)], pa.timestamp("ns", tz="UTC")
                ),
                "x": [str(h) for h in range(24)],
            }
        ),
        changed,
    )
    _write_day(tmp_path, 4, unit="ns")  # a timestamp unit change alone is not a schema change
    source = open_file_source("d", path=str(tmp_path), file_format="parquet", time_column="ts")
    assert len(source.file_schemas) == 5
    assert source.file_schemas[0].start == DAY and source.file_schemas[0].end == DAY + timedelta(
        hours=23
    )
    reference = source.profile(DAY, DAY + timedelta(days=3), ["x"])
    for day, expected in ((3, [str(changed.resolve())]), (4, [])):
        window = (DAY + timedelta(days=day), DAY + timedelta(days=day + 1))
        current = source.profile(*window, ["x"], reference=reference)
        result = detect_quality(reference, current, file_schemas=source.file_schemas)
        flagged = [f for f in result.alerts if f.method == "file_schema"]
        assert [f.details["path"] for f in flagged] == expected
    (finding,) = [
        f
        for f in detect_quality(
            reference,
            source.profile(start, start + timedelta(days=1), ["x"], reference=reference),
            file_schemas=source.file_schemas,
        ).alerts
        if f.method == "file_schema"
    ]
    assert finding.details["retyped"] == {"x": {"reference_type": "double", "file_type": "string"}}


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_a_file_s_time_range_comes_from_its_raw_statistics_in_any_unit(tmp_path: Path, unit):
    """Footer statistics give each file's time range without reading data (and without the
    dataframe library pyarrow would build typed statistics with): the earliest time rounded
    down and the latest rounded up to the microsecond, so the range never leaves a row out."""
    from detectors.sources.file_schemas import read_parquet_schema

    first = 1_735_689_600 * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    ticks = [first + 1, first + 5_000_001] if unit == "ns" else [first, first + 3]
    path = tmp_path / "part.parquet"
    pq.write_table(pa.table({"ts": pa.array(ticks, pa.timestamp(unit, tz="UTC"))}), path)
    schema = read_parquet_schema(str(path), "ts")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    step = {"s": timedelta(seconds=3), "ms": timedelta(milliseconds=3)}.get(
        unit, timedelta(microseconds=3)
    )
    if unit == "ns":  # 1 ns and 5,000,001 ns past the start: down to 0 us, up to 5,001 us
        assert (schema.start, schema.end) == (start, start + timedelta(microseconds=5001))
    else:
        assert (schema.start, schema.end) == (start, start + step)
    assert read_parquet_schema(str(path), "missing").start is None
