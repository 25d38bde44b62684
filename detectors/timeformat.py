"""A dataset's `time_format`: how a text time column is read, in every engine.

The format is written once, in strptime style (`%m/%d/%Y %H:%M:%S`, as Python and DuckDB
write it), and translated here into each engine's own pattern language, so the text is
parsed where the data lives: DuckDB `strptime`, PostgreSQL `to_timestamp` (`MM/DD/YYYY
HH24:MI:SS`), Spark `to_timestamp` (`M/d/yyyy H:m:s`). Only the directives that mean the
same in all three are accepted; a directive an engine cannot parse is refused when the
config loads, naming the engine, rather than failing in the middle of a scan.

Rules kept by the translation:

- Without `%z` the parsed times hold UTC (Warden's convention for naive times); with `%z`
  each value's offset is applied and the instant is converted to UTC.
- Numbers may be zero-padded or not (`03/01/2025` and `3/1/2025`), as with Python's
  strptime, except where two numbers touch (`%Y%m%d`): then each takes its full width.
- Literal letters are quoted for the engine (`T` in `%Y-%m-%dT%H:%M:%S`).
- PostgreSQL matches separators loosely (`-` in the format also reads `/`) and reads `%z`
  as `+HH:MM` or `+HH` only; DuckDB and Spark read the separators exactly as written.

>>> engine_pattern("%m/%d/%Y %H:%M:%S", "postgres")
'MM/DD/YYYY HH24:MI:SS'
>>> engine_pattern("%m/%d/%Y %H:%M:%S", "spark")
'M/d/yyyy H:m:s'
>>> engine_pattern("%Y%m%dT%H%M%S", "spark")
"yyyyMMdd'T'HHmmss"
>>> print(format_problem("%a %d %b %Y", "spark").split(";")[0])
%a (a day name) cannot be parsed by Spark (3.0 and later refuse day-of-week names when parsing)
>>> format_problem("%d/%m", "duckdb")
'the format has no year (%Y or %y): times would land in 1900'
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

Engine = Literal["duckdb", "postgres", "spark"]
#: How each engine is named in messages.
ENGINE_NAMES: dict[str, str] = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark"}
#: The engine that reads each dataset `format` of the config.
ENGINE_OF_FORMAT: dict[str, Engine] = {
    "csv": "duckdb",
    "parquet": "duckdb",
    "duckdb": "duckdb",
    "postgres": "postgres",
    "spark": "spark",
    "delta": "duckdb",
    "iceberg": "duckdb",
}


class Directive(NamedTuple):
    """What one strptime directive is in PostgreSQL and in Spark (None: not parseable
    there); `spark_wide` is Spark's pattern when the number touches another one."""

    meaning: str
    postgres: str | None
    spark: str | None
    spark_wide: str | None = None


DIRECTIVES: dict[str, Directive] = {
    "Y": Directive("the year, 4 digits", "YYYY", "yyyy"),
    "y": Directive("the year, 2 digits", "YY", "yy"),
    "m": Directive("the month number", "MM", "M", "MM"),
    "d": Directive("the day of the month", "DD", "d", "dd"),
    "j": Directive("the day of the year", "DDD", "D", "DDD"),
    "H": Directive("the hour, 00-23", "HH24", "H", "HH"),
    "I": Directive("the hour, 01-12", "HH12", "h", "hh"),
    "p": Directive("AM or PM", "AM", "a"),
    "M": Directive("the minutes", "MI", "m", "mm"),
    "S": Directive("the seconds", "SS", "s", "ss"),
    "f": Directive("the fraction of a second, up to 6 digits", "US", "SSSSSS"),
    "b": Directive("a month's short name", "Mon", "MMM"),
    "B": Directive("a month's full name", "Month", "MMMM"),
    "a": Directive("a day name", "Dy", None),
    "A": Directive("a day name", "Day", None),
    "z": Directive("a UTC offset", "TZH:TZM", "[XXX][XX]"),
}
#: Directives that read digits: where two touch, each must take its full width.
_NUMERIC = frozenset("YymdjHIMSf")
_UNSUPPORTED_WHY = {
    ("spark", "a"): "3.0 and later refuse day-of-week names when parsing",
    ("spark", "A"): "3.0 and later refuse day-of-week names when parsing",
}
_TOKEN = re.compile(r"%(.)|([^%]+)|(%)$", re.DOTALL)


def _tokens(time_format: str) -> list[tuple[str, str]]:
    """("directive", letter) and ("text", literal) pieces; `%%` is the text `%`.

    >>> _tokens("%d.%m %%")
    [('directive', 'd'), ('text', '.'), ('directive', 'm'), ('text', ' '), ('text', '%')]
    """
    pieces: list[tuple[str, str]] = []
    for directive, text, dangling in _TOKEN.findall(time_format):
        if dangling:
            pieces.append(("directive", ""))
        elif text:
            pieces.append(("text", text))
        elif directive == "%":
            pieces.append(("text", "%"))
        else:
            pieces.append(("directive", directive))
    return pieces


def format_problem(time_format: str, engine: Engine) -> str | None:
    """Why `time_format` cannot be used to read text times in `engine`, or None.

    Checked when the config loads, so an unknown directive or one the dataset's engine
    cannot parse is reported at its place in the file.
    """
    if not time_format.strip():
        return "the format is empty; write one like %Y-%m-%d %H:%M:%S"
    letters = [value for kind, value in _tokens(time_format) if kind == "directive"]
    for letter in letters:
        if letter not in DIRECTIVES:
            shown = f"%{letter}" if letter else "a lone % at the end"
            known = " ".join(f"%{name}" for name in DIRECTIVES)
            return f"{shown} is not a directive time_format understands (use: {known} %%)"
        if engine != "duckdb" and getattr(DIRECTIVES[letter], engine) is None:
            why = _UNSUPPORTED_WHY.get((engine, letter), "it has no equivalent there")
            return (
                f"%{letter} ({DIRECTIVES[letter].meaning}) cannot be parsed by "
                f"{ENGINE_NAMES[engine]} ({why}); remove it from the format, or read this "
                "dataset with another engine"
            )
    if not {"Y", "y"} & set(letters):
        return "the format has no year (%Y or %y): times would land in 1900"
    if "I" in letters and "p" not in letters:
        return "%I (the hour, 01-12) needs %p (AM or PM); use %H for a 24-hour clock"
    return None


def has_offset(time_format: str) -> bool:
    """Whether the format reads each value's UTC offset (`%z`)."""
    return ("directive", "z") in _tokens(time_format)


def engine_pattern(time_format: str, engine: Engine) -> str:
    """The pattern that `engine`'s parsing function takes for `time_format` (checked with
    `format_problem` first; raises ValueError otherwise)."""
    problem = format_problem(time_format, engine)
    if problem is not None:
        raise ValueError(f"time_format {time_format!r}: {problem}")
    if engine == "duckdb":
        return time_format  # DuckDB's strptime takes the format as it is written
    pieces = _tokens(time_format)
    out = []
    for index, (kind, value) in enumerate(pieces):
        if kind == "text":
            out.append(_quoted(value, engine))
            continue
        directive = DIRECTIVES[value]
        if engine == "postgres":
            out.append(str(directive.postgres))
            continue
        touches = value in _NUMERIC and any(
            0 <= other < len(pieces)
            and pieces[other][0] == "directive"
            and pieces[other][1] in _NUMERIC
            for other in (index - 1, index + 1)
        )
        out.append(
            str(directive.spark_wide if touches and directive.spark_wide else directive.spark)
        )
    return "".join(out)


def _quoted(text: str, engine: Engine) -> str:
    """Literal text of a format in the engine's pattern: letters and digits quoted, since
    both engines read unquoted letters as fields (PostgreSQL's `TH`, Spark's `T`...)."""
    if engine == "postgres":
        parts = re.split(r"([A-Za-z0-9\"\\]+)", text)
        return "".join(
            '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"' if index % 2 else part
            for index, part in enumerate(parts)
        )
    parts = re.split(r"([A-Za-z'\[\]{}#]+)", text)
    return "".join(
        "'" + part.replace("'", "''") + "'" if index % 2 else part
        for index, part in enumerate(parts)
    )


def parse_sql(column_sql: str, time_format: str, engine: Engine) -> str:
    """SQL that parses the text column `column_sql` (already quoted) with `time_format`,
    for places that write SQL by hand (the quarantine's clean view).

    >>> print(parse_sql('t."ts"', "%m/%d/%Y %H:%M:%S", "postgres"))
    to_timestamp(t."ts", 'MM/DD/YYYY HH24:MI:SS')
    """
    pattern = engine_pattern(time_format, engine).replace("'", "''")
    function = "strptime" if engine == "duckdb" else "to_timestamp"
    return f"{function}({column_sql}, '{pattern}')"
