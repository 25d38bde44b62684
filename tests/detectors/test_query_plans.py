"""A window's queries are built and compiled once per table and rerun with new bounds
(issue 17, item 1), on DuckDB, PostgreSQL and Spark: the SQL for any bounds is exactly what
Ibis compiles for them, the rows are what Ibis's own execution returns, and profiles through
kept plans equal profiles planned afresh."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.profile_queries import (
    BOUND_PARAMETERS,
    aggregate_query,
    category_query,
    parametrised_window,
    raw_value_query,
)
from detectors.profiling import ProfileOptions, profile_window
from detectors.query_plans import PlanStore, QueryPlans
from detectors.sources.base import DatasetSource
from detectors.sources.files import open_file_source
from tests.detectors.archives import DictArchive

START = datetime(2025, 1, 1, tzinfo=UTC)
ROWS = 3000


def _events(timezone: str | None) -> pa.Table:
    times = [START + timedelta(minutes=5 * i) for i in range(ROWS)]
    if timezone is None:
        times = [t.replace(tzinfo=None) for t in times]
    return pa.table(
        {
            "ts": pa.array(times, pa.timestamp("us", tz=timezone)),
            "amount": [float((i * 37) % 101) if i % 50 else None for i in range(ROWS)],
            "kind": [("a", "b", "c", "d")[i % 4 if i < 2000 else i % 2] for i in range(ROWS)],
        }
    )


def _parquet(folder: Path, timezone: str | None) -> Path:
    folder.mkdir()
    pq.write_table(_events(timezone), folder / "part-0.parquet")
    return folder


def _duckdb(folder: Path) -> DatasetSource:
    return open_file_source("events", path=str(folder), file_format="parquet", time_column="ts")


@pytest.fixture(params=["duckdb", "postgres", "spark"])
def open_events(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A function timezone -> a fresh source of the events on this engine."""
    engine = request.param
    if engine == "duckdb":
        yield lambda timezone: _duckdb(_parquet(tmp_path / f"events-{timezone}", timezone))
        return
    if engine == "postgres":
        yield from _postgres_events()
        return
    master = request.getfixturevalue("spark_master")
    yield lambda timezone: _spark_events(
        master, _parquet(tmp_path / f"events-{timezone}", timezone)
    )


def _postgres_events() -> Iterator[Any]:
    """Each call creates a table of the events in a scratch database (dropped at the end)."""
    import ibis

    from detectors.sources.sql import open_sql_source
    from tests.conftest import _fresh_postgres_database

    for url in _fresh_postgres_database():
        backend = ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))

        def open_(timezone: str | None, backend: Any = backend, url: str = url) -> DatasetSource:
            name = f"events_{'utc' if timezone else 'naive'}"
            backend.create_table(name, _events(timezone).to_pandas())
            return open_sql_source(
                "events", url=url, table=name, sql_format="postgres", time_column="ts"
            )

        try:
            yield open_
        finally:
            backend.disconnect()


def _spark_events(master: str, folder: Path) -> DatasetSource:
    from detectors.sources.spark import open_spark_source

    return open_spark_source("events", master=master, path=str(folder), time_column="ts")


def _profile(table: Any, start: datetime, end: datetime, columns: list[str], **options: Any):
    """The profile of `columns` of the events in [start, end)."""
    return profile_window(
        table, dataset="events", time_column="ts", start=start, end=end, columns=columns, **options
    )


def _days(first: int, last: int) -> list[tuple[datetime, datetime]]:
    return [(START + timedelta(days=d), START + timedelta(days=d + 1)) for d in range(first, last)]


@pytest.mark.parametrize("timezone", [None, "UTC"])
def test_the_sql_for_new_bounds_is_what_ibis_compiles_for_them(open_events, timezone):
    source = open_events(timezone)
    plans = QueryPlans(source.table, PlanStore())
    for start, end in _days(0, 4):
        window, values = parametrised_window(source.table, "ts", start, end)
        expr = window.aggregate(n=window.count(), total=window["amount"].sum())
        _, sql = plans.sql(
            "sum",
            lambda window=window: window.aggregate(n=window.count(), total=window["amount"].sum()),
            values,
        )
        assert sql == plans.backend.compile(expr, params=values)
    assert (plans.misses, plans.hits) == (1, 3)  # the case: compiled once, reused thrice


@pytest.mark.parametrize("timezone", [None, "UTC"])
def test_planned_rows_are_what_ibis_executes(open_events, timezone):
    """The driver's rows (no dataframe in between) hold the values Ibis's own execution
    returns, for each kind of query a profile runs."""
    source = open_events(timezone)
    plans = QueryPlans(source.table, PlanStore())
    window, values = parametrised_window(source.table, "ts", *_days(2, 3)[0])
    queries = {
        "aggregate": aggregate_query(
            window,
            ["amount", "kind"],
            {"amount": "numeric", "kind": "categorical"},
            {"amount": (10.0, 50.0, 90.0)},
            {"amount": (5.0, 95.0)},
            exact_quantiles=True,
            with_distinct=True,
        ),
        "categories": category_query(window, ["kind"], 3),
        "raw": raw_value_query(window, ["amount"]),
    }
    for name, expr in queries.items():
        ours = plans.rows(name, lambda expr=expr: expr, values)
        theirs = expr.execute(params=values)
        assert ours.columns == tuple(theirs.columns), name
        assert _normal(ours.rows) == _normal(theirs.itertuples(index=False)), name
    assert plans.misses == 3


@pytest.mark.parametrize("timezone", [None, "UTC"])
def test_profiles_through_kept_plans_equal_profiles_planned_afresh(open_events, timezone):
    kept = open_events(timezone)
    columns = ["amount", "kind"]
    reference = _profile(kept.table, START, START + timedelta(days=3), columns)
    plans = QueryPlans(kept.table, PlanStore())
    for start, end in _days(3, 12):  # the last days hold fewer kinds, then no rows at all
        profiles = [
            _profile(kept.table, start, end, columns, reference=reference, plans=given)
            for given in (plans, QueryPlans(kept.table, PlanStore()))
        ]
        assert profiles[0] == profiles[1], start
    assert profiles[0].rows == 0  # the case: an empty window went through the kept plans
    assert plans.hits > plans.misses > 0


def test_a_window_of_another_size_than_last_time_gets_the_quantiles_its_size_calls_for(
    tmp_path: Path,
):
    """Kept plans skip the count when they know the window's size from last time; when the
    window turned out larger or smaller than that guess allows, the aggregate runs again
    with the quantiles its real size calls for, as a count first would have chosen."""
    source = _duckdb(_parquet(tmp_path / "events", "UTC"))
    options = ProfileOptions(exact_quantile_rows=200)
    reference = _profile(
        source.table, START, START + timedelta(days=3), ["amount"], options=options
    )
    plans = QueryPlans(source.table, PlanStore())
    sizes = []
    for start, end in _days(8, 12):  # 288, 288, 120, then 0 rows: sketched, then exact
        kept, fresh = (
            _profile(
                source.table,
                start,
                end,
                ["amount"],
                reference=reference,
                options=options,
                plans=given,
            )
            for given in (plans, QueryPlans(source.table, PlanStore()))
        )
        assert kept == fresh, start
        sizes.append(kept.rows)
    assert sizes == [288, 288, 120, 0]
    # The case: the count ran once; the guess from 288 rows was wrong for 120, and the
    # exact aggregate was planned then.
    aggregates = [key for key in plans.planned() if isinstance(key[0], tuple)]
    assert [key[0][0] for key in aggregates] == ["aggregate", "aggregate"]
    assert sorted(key[1] for key in aggregates) == [False, True]
    assert [key for key in plans.planned() if key[0] == "count"] == [("count", "ts")]


def test_a_query_without_its_sentinel_is_compiled_for_each_value(tmp_path: Path):
    """A bound the expression does not use leaves no sentinel in its SQL: nothing is kept
    for it, and each run compiles what Ibis compiles for the values."""
    source = _duckdb(_parquet(tmp_path / "events", None))
    plans = QueryPlans(source.table, PlanStore())
    unused, _ = BOUND_PARAMETERS[True]
    table = source.table
    for day in range(2):
        values = {unused: datetime(2025, 1, 1 + day)}
        _, sql = plans.sql("count", lambda: table.aggregate(n=table.count()), values)
        assert sql == plans.backend.compile(table.aggregate(n=table.count()), params=values)
        assert plans.rows("count", lambda: table.aggregate(n=table.count()), values).rows == [
            (ROWS,)
        ]
    assert plans.hits == 0


def test_plans_belong_to_one_table(tmp_path: Path):
    first = _duckdb(_parquet(tmp_path / "one", None))
    second = _duckdb(_parquet(tmp_path / "two", None))
    with pytest.raises(ValueError, match="another table"):
        profile_window(
            second.table,
            dataset="events",
            time_column="ts",
            start=START,
            end=START + timedelta(days=1),
            columns=["amount"],
            plans=first.plans,
        )


def test_in_memory_tables_are_registered_before_their_first_query():
    import ibis

    table = ibis.memtable(_events("UTC").to_pandas())
    profile = profile_window(
        table,
        dataset="memory",
        time_column="ts",
        start=START,
        end=START + timedelta(days=1),
        columns=["amount", "kind"],
    )
    assert profile.rows == 288


def test_queries_over_an_in_memory_table_stay_in_the_process(tmp_path: Path):
    """A new process would have to register the in-memory table first: such plans are
    not archived; the file table's are, and a new plan store takes them from it."""
    import ibis

    source = _duckdb(_parquet(tmp_path / "events", "UTC"))
    archive = DictArchive()
    plans = QueryPlans(source.table, PlanStore(), archive)
    names = ibis.memtable({"kind": ["a", "b"]})
    joined = lambda: source.table.semi_join(names, "kind").aggregate(n=ibis._.count())  # noqa: E731
    counted = lambda: source.table.aggregate(n=ibis._.count())  # noqa: E731
    assert plans.rows("kinds", joined).rows == [(2000,)]
    assert plans.rows("all", counted).rows == [(ROWS,)]
    assert len(archive.records[plans.identity_id]) == 1
    fresh = QueryPlans(source.table, PlanStore(), archive)
    assert fresh.rows("all", counted).rows == [(ROWS,)]
    assert fresh.stats() == {"hits": 1, "misses": 0, "loaded": 1}


def _normal(rows: Any) -> list[tuple[Any, ...]]:
    """Rows comparable across drivers and pandas: numbers as floats (NaN and NULL as None),
    arrays as tuples, rows sorted (group-by output has no order)."""

    def value(item: Any) -> Any:
        if item is None:
            return None
        if hasattr(item, "tolist"):
            item = item.tolist()
        if isinstance(item, list | tuple):
            return tuple(value(v) for v in item)
        if isinstance(item, str):
            return item
        number = float(item)
        return None if math.isnan(number) else round(number, 9)

    return sorted((tuple(value(v) for v in row) for row in rows), key=repr)


@pytest.mark.parametrize("timezone", [None, "UTC"])
def test_engine_times_are_utc_whatever_the_process_time_zone(
    open_events, timezone, monkeypatch: pytest.MonkeyPatch
):
    """Rows come from the drivers as they are, and Spark's would carry the Python process's
    local time: with the process on Los Angeles time, a freshness timeline still reads the
    newest and oldest event times in UTC on every engine."""
    source = open_events(timezone)
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert datetime(2025, 1, 1, 12).astimezone().utcoffset() == timedelta(hours=-8)
        timeline = source.timeline(START, START + timedelta(days=1), timedelta(hours=1))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert timeline.latest == START + timedelta(days=1) - timedelta(minutes=5)
    assert timeline.earliest == START
    assert timeline.counts == (12,) * 24


def test_the_bounds_named_without_ibis_are_the_parameters_ibis_builds():
    """`detectors.window_bounds` names the bound parameters and their types without Ibis;
    `detectors.profile_queries` builds them: both say the same."""
    from detectors.profile_queries import NAMED_PARAMETERS
    from detectors.window_bounds import BOUND_TYPES, bound_names, is_aware

    assert set(NAMED_PARAMETERS) == set(BOUND_TYPES)
    for name, parameter in NAMED_PARAMETERS.items():
        assert str(parameter.type()) == BOUND_TYPES[name]
        assert is_aware(name) == (parameter.type().timezone is not None)
    for naive in (True, False):
        named = [NAMED_PARAMETERS[name] for name in bound_names(naive)]
        assert all(a is b for a, b in zip(BOUND_PARAMETERS[naive], named, strict=True))
