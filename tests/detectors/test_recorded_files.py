"""A file dataset that an earlier process opened is reopened from its record (issue 17: a
warm scan need not import the expression layer): a view on a plain DuckDB connection, no
Ibis table until a query must be compiled, the same profiles as a dataset opened anew; new
or changed files, a damaged record or a view DuckDB refuses open it as usual.

The "no Ibis imported" half is checked across processes in
tests/cli/test_command_imports.py; here, in one process, `plans.built()` says whether the
Ibis table was ever built.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from detectors.profile import WindowProfile
from detectors.query_plans import table_identity
from detectors.sources.base import DatasetSource
from detectors.sources.files import open_file_source
from tests.detectors.archives import DictArchive

START = datetime(2025, 1, 1, tzinfo=UTC)
ROWS = 2000
DAY = timedelta(days=1)


def _events(first: int, rows: int = ROWS) -> pa.Table:
    """`rows` events 5 minutes apart from `first` steps after START (naive UTC times)."""
    times = [(START + timedelta(minutes=5 * (first + i))).replace(tzinfo=None) for i in range(rows)]
    return pa.table(
        {
            "ts": pa.array(times, pa.timestamp("us")),
            "amount": [float(((first + i) * 37) % 101) if i % 40 else None for i in range(rows)],
            "kind": [("a", "b", "c", "d")[(first + i) % 4] for i in range(rows)],
        }
    )


def _open(folder: Path, archive: DictArchive, file_format: str = "parquet") -> DatasetSource:
    return open_file_source(
        "events",
        path=str(folder),
        file_format=file_format,  # type: ignore[arg-type]
        time_column="ts",
        archive=archive,
    )


def _profiles(source: DatasetSource, columns: list[str]) -> tuple[WindowProfile, WindowProfile]:
    """A reference profile of the first day, and the second day's profile against it."""
    reference = source.profile(START, START + DAY, columns)
    current = source.profile(START + DAY, START + 2 * DAY, columns, reference=reference)
    return reference, current


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(_events(0), folder / "part-0.parquet")
    return folder


def test_a_reopened_dataset_profiles_alike_without_building_its_table(folder: Path):
    archive = DictArchive()
    first = _open(folder, archive)
    assert not first.recorded
    expected = _profiles(first, ["amount", "kind"])
    signature = first.window_signature(START, START + DAY)

    again = _open(folder, archive)
    assert again.recorded  # the case: opened from the record
    assert again.plans.identity_id == first.plans.identity_id
    assert again.columns() == first.columns()
    assert again.default_columns() == first.default_columns() == ["amount", "kind"]
    assert _profiles(again, ["amount", "kind"]) == expected
    assert again.window_signature(START, START + DAY) == signature
    assert not again.plans.built()  # every query came from the archive: no Ibis table


def test_a_query_not_archived_builds_the_table_on_the_same_view(folder: Path):
    archive = DictArchive()
    _profiles(_open(folder, archive), ["amount", "kind"])
    again = _open(folder, archive)
    assert again.recorded

    only_amount = _profiles(again, ["amount"])  # queries no earlier opening compiled

    assert again.plans.built()
    assert table_identity(again.table)[1] == again.plans.identity_id
    assert only_amount == _profiles(
        open_file_source("events", path=str(folder), file_format="parquet", time_column="ts"),
        ["amount"],
    )


def test_new_or_changed_files_open_the_dataset_anew_and_replace_its_record(folder: Path):
    archive = DictArchive()
    _profiles(_open(folder, archive), ["amount"])
    pq.write_table(_events(ROWS), folder / "part-1.parquet")  # a new partition

    grown = _open(folder, archive)
    assert not grown.recorded
    assert grown.spec["files"] == 2
    (group,) = [g for g, records in archive.records.items() if _file_records(records)]
    assert len(archive.records[group]) == 1  # the older record was replaced
    assert _open(folder, archive).recorded

    part = folder / "part-1.parquet"
    status = part.stat()
    pq.write_table(_events(ROWS, rows=ROWS - 1), part)  # rewritten in place
    os.utime(part, ns=(status.st_atime_ns, status.st_mtime_ns))  # even with its old time
    rewritten = _open(folder, archive)
    assert not rewritten.recorded
    reference = rewritten.profile(START, START + 20 * DAY, ["amount"])
    assert reference.rows == 2 * ROWS - 1


def test_a_damaged_record_or_a_refused_view_opens_the_dataset_as_usual(folder: Path):
    archive = DictArchive()
    expected = _profiles(_open(folder, archive), ["amount", "kind"])
    (group,) = [g for g, records in archive.records.items() if _file_records(records)]
    (state,) = archive.records[group]
    record = archive.records[group][state]

    for damaged in (
        {**record, "types": [["amount", ["float64", "numeric", "a family", None]]]},
        {**record, "types": "not a list"},
        {**record, "kind": "something else"},
        {**record, "statement": record["statement"].replace("part-0", "gone")},
    ):
        archive.records[group] = {state: damaged}
        source = _open(folder, archive)
        assert not source.recorded
        assert _profiles(source, ["amount", "kind"]) == expected


def test_a_text_time_column_is_parsed_when_the_table_is_built(tmp_path: Path):
    """A CSV's time column is read as text and parsed by an Ibis expression: a reopened
    source that must build its table parses it alike."""
    folder = tmp_path / "csv"
    folder.mkdir()
    events = _events(0)
    text_times = pa.array([t.isoformat(sep=" ") for t in events["ts"].to_pylist()])
    pa_csv.write_csv(events.set_column(0, "ts", text_times), folder / "events.csv")
    archive = DictArchive()
    first = _open(folder, archive, "csv")
    expected = _profiles(first, ["amount", "kind"])

    again = _open(folder, archive, "csv")
    assert again.recorded
    assert _profiles(again, ["amount", "kind"]) == expected
    assert _profiles(again, ["amount"]) == _profiles(first, ["amount"])
    assert again.plans.built()
    assert table_identity(again.table)[1] == first.plans.identity_id


def _file_records(records: dict[str, dict[str, object]]) -> bool:
    return any(record.get("kind") == "file-source" for record in records.values())
