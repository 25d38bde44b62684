"""A small window profiled in Python from its rows (`detectors.small_windows`) gets what the
engine's aggregate and category queries return for it (issue 17: the scan hot path), on
data with NULL, NaN, infinities, ties and empty windows, and the profile a scan sees is the
engine path's."""

from __future__ import annotations

import math
import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors import small_windows
from detectors.plan_store import PlanStore
from detectors.profile_queries import aggregate_query, category_query, parametrised_window
from detectors.profiling import ProfileOptions, profile_window
from detectors.query_plans import QueryPlans
from detectors.sources.base import DatasetSource
from detectors.sources.files import open_file_source

START = datetime(2025, 1, 1, tzinfo=UTC)
ROWS = 2400  # one a minute for 40 hours
COLUMNS = ["amount", "count", "odd", "kind", "flag"]
KINDS: dict[str, Any] = {
    "amount": "numeric",
    "count": "numeric",
    "odd": "numeric",
    "kind": "categorical",
    "flag": "categorical",
}


def _odd(rng: random.Random, i: int) -> float | None:
    """Mostly numbers, with NULL, NaN and both infinities mixed in."""
    pick = rng.random()
    if pick < 0.05:
        return None
    if pick < 0.08:
        return math.nan
    if pick < 0.10:
        return rng.choice([math.inf, -math.inf])
    return rng.gauss(0, 1) * 10 ** rng.randint(-3, 6)


def _source(folder: Path) -> DatasetSource:
    rng = random.Random(17)
    table = pa.table(
        {
            "ts": pa.array(
                [START + timedelta(minutes=i) for i in range(ROWS)], pa.timestamp("us", tz="UTC")
            ),
            "amount": [rng.lognormvariate(3, 0.5) if i % 37 else None for i in range(ROWS)],
            "count": pa.array([rng.randint(-5, 50) for _ in range(ROWS)], pa.int32()),
            "odd": [_odd(rng, i) for i in range(ROWS)],
            "kind": [
                rng.choice(["a", "b", "c", "é", "Z", "a b"]) if i % 11 else None
                for i in range(ROWS)
            ],
            "flag": [rng.random() < 0.3 for _ in range(ROWS)],
        }
    )
    folder.mkdir()
    pq.write_table(table, folder / "part-0.parquet")
    return open_file_source("events", path=str(folder), file_format="parquet", time_column="ts")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> DatasetSource:
    return _source(tmp_path_factory.mktemp("small") / "events")


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, list | tuple):
        return len(expected) == len(got) and all(map(_same, expected, got))
    if isinstance(expected, float) or isinstance(got, float):
        if expected is None or got is None:
            return expected is got
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return math.isclose(expected, got, rel_tol=1e-12, abs_tol=1e-300)
    return expected == got


WINDOWS = [(0, 0), (5, 6), (5, 7), (100, 103), (200, 260), (300, 1299), (2000, 2400)]


@pytest.mark.parametrize(("first", "last"), WINDOWS)
def test_the_rows_give_what_the_engine_aggregates(source: DatasetSource, first: int, last: int):
    start, end = START + timedelta(minutes=first), START + timedelta(minutes=last)
    window, bounds = parametrised_window(source.table, "ts", start, end)
    edges = {"amount": (10.0, 20.0, 30.0), "odd": (-1.0, 0.0, 1e3)}
    ranges = {"amount": (5.0, 60.0), "count": (0.0, 40.0), "odd": (-1e5, 1e5)}
    plans = QueryPlans(source.table, PlanStore())
    engine = plans.rows(
        "aggregate",
        lambda: aggregate_query(
            window, COLUMNS, KINDS, edges, ranges, exact_quantiles=True, with_distinct=False
        ),
        bounds,
    ).first()
    read = plans.rows(
        "rows", lambda: small_windows.window_rows_query(window, COLUMNS, KINDS, 5000), bounds
    )
    assert len(read.rows) == last - first
    mine = small_windows.aggregate_row(read.rows, COLUMNS, KINDS, edges, ranges)
    assert set(mine) == set(engine)
    different = {k: (engine[k], mine[k]) for k in engine if not _same(engine[k], mine[k])}
    assert not different
    for top_k in (2, 3, 100):
        counted = plans.rows(
            ("categories", top_k),
            lambda k=top_k: category_query(window, ["kind", "flag"], k),
            bounds,
        )
        expected: dict[str, dict[str, int]] = {"kind": {}, "flag": {}}
        for column_name, value, n in counted.rows:
            expected[column_name][value] = int(n)
        got = small_windows.category_counts(read.rows, COLUMNS, ["kind", "flag"], top_k)
        assert got == expected


def _profile(source: DatasetSource, start: datetime, end: datetime, **options: Any) -> Any:
    reference = profile_window(
        source.table,
        dataset="events",
        time_column="ts",
        start=START,
        end=START + timedelta(hours=20),
        columns=COLUMNS,
        plans=QueryPlans(source.table, PlanStore()),
    )
    return profile_window(
        source.table,
        dataset="events",
        time_column="ts",
        start=start,
        end=end,
        columns=COLUMNS,
        reference=reference,
        options=ProfileOptions(**options),
        plans=QueryPlans(source.table, PlanStore()),
    )


@pytest.mark.parametrize("minutes", [0, 1, 90, 600])
def test_a_scan_sees_the_engine_paths_profile(source: DatasetSource, minutes: int):
    start = START + timedelta(hours=30)
    end = start + timedelta(minutes=minutes)
    small = _profile(source, start, end)
    engine = _profile(source, start, end, raw_value_limit=0)  # no small path, no raw values
    assert small.rows == engine.rows == minutes
    for name in COLUMNS:
        mine, theirs = asdict(small.columns[name]), asdict(engine.columns[name])
        mine.pop("values"), theirs.pop("values")
        assert all(_same(theirs[key], mine[key]) for key in theirs), (name, theirs, mine)
    if minutes:
        assert small.columns["amount"].values  # raw values shipped, as before


def test_a_window_larger_than_last_time_goes_to_the_engine(source: DatasetSource):
    """The size guessed from last time is checked: a window of the same length that now
    holds more rows than the limit is read up to one row too many, then aggregated by the
    engine."""
    plans = QueryPlans(source.table, PlanStore())
    reference = _profile(source, START, START + timedelta(hours=1))
    common: dict[str, Any] = {
        "dataset": "events",
        "time_column": "ts",
        "columns": COLUMNS,
        "reference": reference,
        "plans": plans,
        "options": ProfileOptions(raw_value_limit=100),
    }
    edge = START + timedelta(minutes=ROWS)  # the data ends here
    first = profile_window(
        source.table, start=edge - timedelta(hours=1), end=edge + timedelta(hours=1), **common
    )
    assert first.rows == 60

    def aggregates() -> list[Any]:
        return [key for key in plans.planned() if isinstance(key[0], tuple)]

    assert not aggregates()  # profiled from its rows
    inside = edge - timedelta(hours=3)
    later = profile_window(source.table, start=inside, end=inside + timedelta(hours=2), **common)
    assert later.rows == 120
    assert aggregates()  # the engine's aggregate ran
    assert later.columns["amount"].values is None  # above the raw value limit
    engine = profile_window(
        source.table,
        start=inside,
        end=inside + timedelta(hours=2),
        **{**common, "plans": QueryPlans(source.table, PlanStore())},
    )
    assert later.columns["amount"].histogram is not None
    for name in COLUMNS:  # NaN quantiles: compared as equal when both are NaN
        mine, theirs = asdict(later.columns[name]), asdict(engine.columns[name])
        assert all(_same(theirs[key], mine[key]) for key in theirs), name
