"""One `time_format` reads the same instants in every engine: the same text, parsed by DuckDB
`strptime`, PostgreSQL `to_timestamp` and Spark `to_timestamp` with the translated patterns,
gives the same UTC times; a value that does not parse is a clear error when the dataset is
opened, not an engine error in the middle of a scan."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest

from detectors.sources.errors import SourceError
from detectors.sources.files import duckdb_connection
from detectors.sources.text_times import engine_of, parsed_times, with_parsed_times
from detectors.timeformat import Engine, engine_pattern, format_problem

INSTANTS = [
    datetime(2025, 3, 1, 0, 8, 23, 123456, tzinfo=UTC),
    datetime(2024, 2, 29, 9, 5, 0, tzinfo=UTC),
    datetime(2025, 12, 31, 13, 59, 7, 500000, tzinfo=UTC),
    datetime(2025, 7, 4, 23, 0, 0, tzinfo=UTC),
]
PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE_THIRTY = timezone(-timedelta(hours=5, minutes=30))


def _with_offset(instant: datetime) -> str:
    """ISO-style text with a `+02:00`-like offset (PostgreSQL reads `%z` as +HH:MM)."""
    zone = PLUS_TWO if instant.month % 2 else MINUS_FIVE_THIRTY
    text = instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    return text[:-2] + ":" + text[-2:]


def _unpadded(instant: datetime) -> str:
    date = f"{instant.month}/{instant.day}/{instant.year}"
    return f"{date} {instant.hour}:{instant.minute:02}:{instant.second:02}"


#: column -> (time_format, how an instant is written, what of the instant the text keeps).
CASES: dict[str, tuple[str, Callable[[datetime], str], Callable[[datetime], datetime]]] = {
    "us_slashes": (
        "%m/%d/%Y %H:%M:%S",
        lambda t: t.strftime("%m/%d/%Y %H:%M:%S"),
        lambda t: t.replace(microsecond=0),
    ),
    "unpadded": ("%m/%d/%Y %H:%M:%S", _unpadded, lambda t: t.replace(microsecond=0)),
    "twelve_hour": (
        "%d.%m.%y %I:%M %p",
        lambda t: t.strftime("%d.%m.%y %I:%M %p"),
        lambda t: t.replace(second=0, microsecond=0),
    ),
    "compact": (
        "%Y%m%d%H%M%S",
        lambda t: t.strftime("%Y%m%d%H%M%S"),
        lambda t: t.replace(microsecond=0),
    ),
    "iso_offset": ("%Y-%m-%dT%H:%M:%S.%f%z", _with_offset, lambda t: t),
    "month_name": (
        "%b %d %Y %H:%M",
        lambda t: t.strftime("%b %d %Y %H:%M"),
        lambda t: t.replace(second=0, microsecond=0),
    ),
    "full_month": (
        "%d %B %Y",
        lambda t: t.strftime("%d %B %Y"),
        lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0),
    ),
    "day_of_year": (
        "%j/%Y %Hh",
        lambda t: t.strftime("%j/%Y %Hh"),
        lambda t: t.replace(minute=0, second=0, microsecond=0),
    ),
    "day_name": (
        "%a %d %b %Y %H:%M:%S",
        lambda t: t.strftime("%a %d %b %Y %H:%M:%S"),
        lambda t: t.replace(microsecond=0),
    ),
}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {name: [write(t) for t in INSTANTS] for name, (_, write, _) in CASES.items()}
    )


def _as_utc(value: Any) -> datetime:
    moment = pd.Timestamp(value).to_pydatetime()
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_engine(table: Any, engine: Engine) -> None:
    """Every case the engine can parse gives the expected instants; the others are
    refused by `format_problem`, naming the engine."""
    parsed = {}
    for name, (time_format, _, _) in CASES.items():
        if format_problem(time_format, engine) is not None:
            assert name == "day_name" and engine == "spark", (name, engine)
            continue
        parsed[name] = parsed_times(table[name], time_format, engine)
    result = table.select(**parsed).execute()
    for name in parsed:
        keep = CASES[name][2]
        got = [_as_utc(value) for value in result[name]]
        assert got == [keep(t) for t in INSTANTS], (name, engine_pattern(CASES[name][0], engine))


def _duckdb_table(connection: Any, name: str, frame: pd.DataFrame) -> Any:
    # Through DuckDB itself: Ibis 12's create_table from pandas breaks on DuckDB 2.
    connection.con.register(f"{name}_frame", frame)
    connection.raw_sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_frame")
    return connection.table(name)


def test_duckdb_reads_every_format():
    connection = duckdb_connection()
    table = _duckdb_table(connection, "times", _frame())
    assert engine_of(table) == "duckdb"
    _check_engine(table, "duckdb")


@pytest.fixture
def postgres_backend() -> Iterator[Any]:
    import ibis

    from tests.conftest import _fresh_postgres_database

    for url in _fresh_postgres_database():
        backend = ibis.connect(url.replace("postgresql+psycopg://", "postgres://"))
        try:
            yield backend
        finally:
            backend.disconnect()


@pytest.mark.postgres
def test_postgres_reads_every_format(postgres_backend: Any):
    table = postgres_backend.create_table("times", _frame())
    assert engine_of(table) == "postgres"
    _check_engine(table, "postgres")


def test_spark_reads_every_format_but_day_names(spark_master: str):
    from detectors.sources.spark import spark_backend

    backend = spark_backend(spark_master)
    backend._session.createDataFrame(_frame()).createOrReplaceTempView("warden_times")
    table = backend.table("warden_times")
    assert engine_of(table) == "spark"
    _check_engine(table, "spark")
    assert "cannot be parsed by Spark" in str(format_problem("%a %d %b %Y", "spark"))


def test_a_value_that_does_not_match_is_a_clear_error():
    connection = duckdb_connection()
    table = _duckdb_table(
        connection, "events", pd.DataFrame({"ts": ["2025-03-01 00:08:23", "2025-03-02 10:00:00"]})
    )
    with pytest.raises(SourceError) as raised:
        with_parsed_times(table, dataset="d", time_column="ts", time_format="%m/%d/%Y %H:%M:%S")
    error = raised.value
    assert error.key == "time_format"
    assert str(error).startswith(
        "dataset 'd': time column 'ts' holds text that does not match time_format "
        "'%m/%d/%Y %H:%M:%S' (e.g. '2025-03-01 00:08:23'); DuckDB says: "
    )
    with pytest.raises(SourceError) as raised:
        with_parsed_times(
            _duckdb_table(connection, "us", pd.DataFrame({"ts": ["03/01/2025 00:08:23"]})),
            dataset="d",
            time_column="ts",
            time_format=None,
        )
    assert raised.value.key == "time_column"
    assert "holds text that is not ISO 8601 (e.g. '03/01/2025 00:08:23'): set `time_format`" in (
        str(raised.value)
    )


@pytest.mark.parametrize(
    ("time_format", "engine", "problem"),
    [
        ("%Y-%m-%d %q", "duckdb", "%q is not a directive time_format understands"),
        ("%Y-%m-%d %", "duckdb", "a lone % at the end is not a directive"),
        ("%H:%M", "duckdb", "the format has no year"),
        ("%Y %I:%M", "postgres", "%I (the hour, 01-12) needs %p"),
        ("%a %Y", "spark", "%a (a day name) cannot be parsed by Spark"),
        ("  ", "postgres", "the format is empty"),
    ],
)
def test_formats_an_engine_cannot_parse_are_refused(time_format: str, engine: Engine, problem: str):
    assert problem in str(format_problem(time_format, engine))
    with pytest.raises(ValueError, match="time_format"):
        engine_pattern(time_format, engine)


def test_literal_letters_are_quoted_for_each_engine():
    time_format = "%Y-%m-%dT%H:%M:%S UTC"
    assert engine_pattern(time_format, "postgres") == 'YYYY-MM-DD"T"HH24:MI:SS "UTC"'
    assert engine_pattern(time_format, "spark") == "yyyy-M-d'T'H:m:s 'UTC'"
    assert engine_pattern(time_format, "duckdb") == time_format
