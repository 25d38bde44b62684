"""Issue 16: a CSV whose times read `03/01/2025 00:08:23` made `warden scan` an internal error
(and, while every day was at most 12, DuckDB silently read them day-first: 3 January). Now
the time column of a CSV is parsed as the dataset's `time_format` says: windows are cut on
the right rows; without the format the monitor is an `error` that says to set it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import run_warden

START = datetime(2025, 3, 1)
DAYS = 20


def _rows_on(day: int) -> int:
    """Rows on March `day`: 30 + day, so each window's count says which day it read."""
    return 30 + day


def _times() -> list[datetime]:
    times = []
    for day in range(1, DAYS + 1):
        count = _rows_on(day)
        base = START + timedelta(days=day - 1)
        times += [base + timedelta(seconds=(86400 * i) // count + 23) for i in range(count)]
    return times


def _write(folder: Path, data_format: str) -> None:
    times = [t.strftime("%m/%d/%Y %H:%M:%S") for t in _times()]
    amounts = [float(i % 17) for i in range(len(times))]
    if data_format == "csv":
        lines = ["ts,amount"] + [f"{t},{a}" for t, a in zip(times, amounts, strict=True)]
        (folder / "events.csv").write_text("\n".join(lines) + "\n")
    else:
        pq.write_table(
            pa.table({"ts": pa.array(times), "amount": amounts}), folder / "events.parquet"
        )


def _config(folder: Path, data_format: str, time_format: str | None) -> None:
    extra = f', time_format: "{time_format}"' if time_format else ""
    (folder / "warden.yaml").write_text(
        "datasets:\n"
        f"  events: {{format: {data_format}, path: events.{data_format}, time_column: ts{extra}}}\n"
        "monitors:\n"
        "  - {name: drift, kind: drift, dataset: events, window: 1d,\n"
        "     reference: {offset: 1d, window: 1d}, columns: [amount]}\n"
        "  - {name: fresh, kind: freshness, dataset: events, max_lag: 2h}\n"
    )


def _scan(folder: Path, at: str) -> tuple[int, dict[str, dict]]:
    ran = run_warden("scan", "--json", "--at", at, cwd=folder)
    assert "Internal error" not in ran.stderr and "internal error" not in ran.stdout, ran.stdout
    return ran.code, {r["monitor"]: r for r in map(json.loads, ran.stdout.splitlines())}


@pytest.mark.parametrize("data_format", ["csv", "parquet"])
def test_text_times_with_a_format_cut_windows_on_the_right_rows(tmp_path: Path, data_format: str):
    _write(tmp_path, data_format)
    _config(tmp_path, data_format, "%m/%d/%Y %H:%M:%S")
    # Days at most 12 too: read day-first they would land in other months.
    for at, reference_day in (("2025-03-10", 8), ("2025-03-16", 14)):
        code, reports = _scan(tmp_path, at)
        assert code == 0, reports
        summary = reports["drift"]["summary"]
        assert (summary["reference_rows"], summary["current_rows"]) == (
            _rows_on(reference_day),
            _rows_on(reference_day + 1),
        )
        assert reports["fresh"]["status"] == "ok"  # the newest row is 23 s after midnight


def test_text_times_without_a_format_are_an_error_that_says_to_set_it(tmp_path: Path):
    _write(tmp_path, "csv")
    _config(tmp_path, "csv", None)
    code, reports = _scan(tmp_path, "2025-03-10")
    assert code == 3
    for report in reports.values():
        assert report["status"] == "error"
        assert report["message"].startswith(
            "dataset 'events': time column 'ts' holds text that is not ISO 8601 "
            "(e.g. '03/01/2025 00:00:23'): set `time_format` on the dataset"
        )
