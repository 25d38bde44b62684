"""Text time columns, parsed inside the engine: the one place a dataset's time expression
is built when its time column holds text.

`with_parsed_times` replaces the text column of an opened table by the instants it holds,
so everything downstream (window filters, timelines, playbooks) reads a timestamp under
the column's own name and never sees the text. With a `time_format` the text is parsed
with it (`detectors.timeformat` translates it for each engine); without one, only ISO 8601
is read (DuckDB and Spark cast it).

Parsing is strict: a value that does not match makes the engine's query fail, since
dropping it would silently empty windows. So that a wrong or missing format is said once,
clearly, when the dataset is opened, and not as an engine error in the middle of a scan,
the first `SAMPLE_ROWS` values are parsed right away and a failure becomes a
`SourceError` that shows a value and says what to set.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.types import Table

from detectors.sources.errors import SourceError, first_line
from detectors.timeformat import ENGINE_NAMES, Engine, engine_pattern, has_offset

#: Values parsed when a dataset is opened, to catch a wrong or missing format early.
SAMPLE_ROWS = 1000
#: Ibis backend name -> the engine name of `detectors.timeformat`.
_ENGINES: dict[str, Engine] = {"duckdb": "duckdb", "postgres": "postgres", "pyspark": "spark"}


def _parser(function: str, *, zoned: bool) -> Any:
    """The engine's parsing function (text, pattern) -> timestamp, as an Ibis builtin, so
    the pattern reaches the engine as written (Ibis's own `as_timestamp` translates
    strptime directives, but misses some: `%p` for PostgreSQL, a literal `T` for Spark)."""

    def parse(text: str, pattern: str) -> Any:  # pragma: no cover - a signature only
        ...

    returns = dt.Timestamp(timezone="UTC") if zoned else dt.Timestamp()
    return ibis.udf.scalar.builtin(
        parse, name=function, signature=((dt.string, dt.string), returns)
    )


# DuckDB's strptime returns a naive timestamp (UTC by Warden's convention) unless the format
# reads offsets; PostgreSQL's to_timestamp a zoned one; Spark's one in the session's time
# zone, which Warden pins to UTC.
_DUCKDB_NAIVE = _parser("strptime", zoned=False)
_DUCKDB_ZONED = _parser("strptime", zoned=True)
_POSTGRES = _parser("to_timestamp", zoned=True)
_SPARK = _parser("to_timestamp", zoned=False)


def engine_of(table: Table) -> Engine:
    """The engine a table is read by (DuckDB, PostgreSQL or Spark)."""
    name = table.get_backend().name
    if name not in _ENGINES:
        raise ValueError(f"Warden does not parse text times on the {name} backend")
    return _ENGINES[name]


def parsed_times(column: Any, time_format: str | None, engine: Engine) -> Any:
    """The timestamp expression for the text `column`: parsed with `time_format`, or read
    as ISO 8601 without one."""
    if time_format is None:
        return column.cast(dt.Timestamp(timezone="UTC") if engine == "duckdb" else "timestamp")
    pattern = engine_pattern(time_format, engine)
    if engine == "duckdb":
        parser = _DUCKDB_ZONED if has_offset(time_format) else _DUCKDB_NAIVE
    else:
        parser = _POSTGRES if engine == "postgres" else _SPARK
    return parser(column, pattern)


def with_parsed_times(
    table: Table,
    *,
    dataset: str,
    time_column: str,
    time_format: str | None,
    columns: dict[str, str] | None = None,
) -> Table:
    """`table` with its text `time_column` replaced by the instants it holds.

    A sample of the values is parsed first; when one does not parse, a `SourceError`
    (key `time_format`, or `time_column` without a format) shows it and says what to set.
    `columns` (name -> type) is carried by that error for the caller's other checks.
    """
    engine = engine_of(table)
    parsed = table.mutate(**{time_column: parsed_times(table[time_column], time_format, engine)})
    present = table.filter(table[time_column].notnull()).limit(SAMPLE_ROWS)
    sample = present.select(
        text=present[time_column],
        parsed=parsed_times(present[time_column], time_format, engine),
    )
    try:
        # Strict engines raise on a value that does not parse; a lenient one (Spark with
        # ANSI mode off) gives NULL, which is just as wrong.
        unparsed = sample.filter(sample.parsed.isnull()).limit(1).execute()
    except Exception as error:  # noqa: BLE001 - any engine's parse failure
        raise _unparsed(
            table, dataset, time_column, time_format, engine, first_line(error), columns
        ) from None
    if len(unparsed):
        value = str(unparsed["text"].iloc[0])
        said = f"{value!r} gives no time"
        raise _unparsed(table, dataset, time_column, time_format, engine, said, columns)
    return parsed


def _unparsed(
    table: Table,
    dataset: str,
    time_column: str,
    time_format: str | None,
    engine: Engine,
    said: str,
    columns: dict[str, str] | None,
) -> SourceError:
    try:
        values = table.filter(table[time_column].notnull()).select(time_column).limit(1).execute()
        example = f" (e.g. {str(values[time_column].iloc[0])!r})" if len(values) else ""
    except Exception:  # noqa: BLE001 - the example is a courtesy; the error stands without it
        example = ""
    if time_format is None:
        return SourceError(
            f"dataset {dataset!r}: time column {time_column!r} holds text that is not ISO "
            f"8601{example}: set `time_format` on the dataset to say how to read it, like "
            f'time_format: "%m/%d/%Y %H:%M:%S" ({ENGINE_NAMES[engine]}: {said})',
            key="time_column",
            columns=columns,
        )
    return SourceError(
        f"dataset {dataset!r}: time column {time_column!r} holds text that does not match "
        f"time_format {time_format!r}{example}; {ENGINE_NAMES[engine]} says: {said}",
        key="time_format",
        columns=columns,
    )
