"""Row ids and seeded orders computed by the engine, identical on DuckDB, PostgreSQL and Spark.

A plan names rows by id, so the approval binds to exactly those rows, and the ids must not
depend on where the data was read from. `row_id_expr(table, id_column)` is an Ibis string
expression over `table` (usually an incident's window):

- with `id_column`: that column cast to text. It must be unique and never missing in the
  window (checked with one aggregate query), else `PlanRefused`;
- without: a content hash, the first 16 hex digits of the md5 of the row's *canonical
  text*, computed by the engine. Rows with the same content get the same hash, so the
  second, third... of identical rows get `-2`, `-3`... appended (a `row_number` over the
  hash; identical rows are interchangeable, so which one is `-2` does not matter).

The canonical text joins, for every column of `table` in name order (code point order),
`<name>=<cell>` with `;`. A missing value (or a float NaN, which Spark reads as missing) is
`\\N`; any other cell is its text with every `\\` written `\\\\` and every `;` written
`\\;` (so no value can be mistaken for a separator or for a missing value), where the text is

- strings: the string itself;
- integers (any width): decimal digits, with `-` when negative;
- booleans: `true` or `false`;
- floating point and decimal numbers: `0` for zero (either sign), `inf`, `-inf`,
  otherwise 15 significant digits and a power of ten, `[-]DDDDDDDDDDDDDDDeE`, meaning
  ±D.DDDDDDDDDDDDDD * 10^E (0.1 is `100000000000000e-1`, -2500 is `-250000000000000e3`).
  Each engine prints floats its own way (`1.0E10`, `10000000000`...), so the digits are
  computed in double precision, the same IEEE arithmetic on every engine:
  E = floor(log10 |x| + 1e-12), k = 14 - E, digits = floor(|x| * 10^(k // 2) *
  10^(k - k // 2) + 0.5) (two factors, so that 1e-300 does not need 10^314). The 1e-12
  nudge puts a value within a few ulps below a power of ten on the power's side on every
  engine, so digits always has exactly 15 digits. Where the scaled value (about 1e14,
  whose ulp is up to 1/8) lies within an ulp of a half, digits may be one unit away from
  decimal rounding (Python's `%.14e`): a few percent of random values, the same on every
  engine. Values that differ only beyond 15 significant digits share a
  text (their ids then differ only by the `-2` suffix);
- timestamps: microseconds since 1970-01-01T00:00:00Z as an integer (a time without a
  time zone is read as UTC, Warden's convention), so zoned and naive columns holding the
  same instant agree;
- dates: ISO 8601 `YYYY-MM-DD`;
- anything else (binary, arrays, structs): the engine's own cast to text, which is not
  guaranteed to agree across engines; name an `id_column` for such data.

`seeded_key(row_id, seed)` is the md5 (32 hex digits) of `<row_id>:<seed>`: ordering rows by
it is a seeded random order, the same on every engine, which breaks every tie of a
selection strategy.

>>> import ibis
>>> rows = ibis.memtable({"x": [0.1, None], "n": [-5, 7], "s": ["a;b", "a;b"]})
>>> texts = ibis.duckdb.connect().execute(rows.select(text=canonical_text(rows)))
>>> list(texts["text"])
['n=-5;s=a\\\\;b;x=100000000000000e-1', 'n=7;s=a\\\\;b;x=\\\\N']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from playbooks.base import PlanRefused
from playbooks.engine_query import fetch_one
from playbooks.window_rows import json_value

#: Name of the column that carries each row's id in the tables built here.
ROW_ID = "warden_row_id"
#: Hex digits of the content hash kept in a row id (64 bits).
HASH_DIGITS = 16
#: Significant decimal digits of a float in the canonical text (exact in a double: < 2^53).
FLOAT_DIGITS = 15
NULL_TEXT = "\\N"


@ibis.udf.scalar.builtin(name="md5")
def _md5(value: str) -> str:  # type: ignore[empty-body]
    """The engine's md5 (32 lowercase hex digits); DuckDB, PostgreSQL and Spark all name
    it md5 (Ibis compiles its own `hexdigest` on DuckDB only)."""


@ibis.udf.scalar.builtin(name="unix_micros")
def _spark_unix_micros(value) -> int:  # type: ignore[no-untyped-def,empty-body]
    """Spark's microseconds since the epoch (Ibis cannot extract microseconds on Spark)."""


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_epoch_us(value) -> int:  # type: ignore[no-untyped-def,empty-body]
    """DuckDB's microseconds since the epoch (a time without a zone read as UTC)."""


def md5_hex(text: ir.StringValue) -> ir.StringValue:
    """md5 of `text` (UTF-8) as 32 lowercase hex digits, computed by the engine."""
    return _md5(text)


def row_id_expr(table: ir.Table, id_column: str | None) -> ir.StringValue:
    """The id of each row of `table`, as text (see the module docstring).

    With `id_column`, runs one aggregate over `table` and refuses (PlanRefused) a column
    that is unknown, missing in some row or not unique. The content hash is built as one
    expression here; `with_row_ids` computes the same ids in stages, which keeps the SQL
    small (use it to plan).
    """
    if id_column:
        return _checked_id_column(table, id_column)
    return _numbered(content_hash(table))


def with_row_ids(
    table: ir.Table,
    id_column: str | None,
    *,
    columns: Sequence[str] | None = None,
    id_checked: bool = False,
) -> ir.Table:
    """`table` with its row id (`row_id_expr`) as column `ROW_ID`. The hash is computed in
    its own projection, so the SQL names it instead of repeating its expression. Filter on
    the column, not on an expression: a window function cannot stand in a WHERE clause.

    `columns` (default: all) are the columns the content hash covers, so a table that
    carries working columns (a score) beside the window's own gets the window's ids.
    `id_checked` skips the id_column check when `check_id_column` already ran over the
    whole window (a filtered part of it would hide duplicates outside the part).

    A filtered part keeps the ids the whole window gives its rows when the filter keeps
    or drops identical rows together (a filter on the rows' content, such as a score):
    the `-2`, `-3` numbering then sees the same copies.
    """
    if id_column:
        if not id_checked:
            check_id_column(table, id_column)
        return table.mutate(**{ROW_ID: table[id_column].cast("string")})
    names = sorted(table.schema().names if columns is None else columns)
    staged, parts = _with_float_parts(table, names)
    text = canonical_text(staged, names, parts=parts)
    hashed = staged.mutate(**{_HASH: md5_hex(text).substr(0, HASH_DIGITS)})
    helpers = [column for pair in parts.values() for column in pair]
    return hashed.mutate(**{ROW_ID: _numbered(hashed[_HASH])}).drop(_HASH, *helpers)


def fetch_rows(
    table: ir.Table, id_column: str | None, row_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The rows of `table` whose id is one of `row_ids`, as JSON-ready dicts (with
    `ROW_ID`) keyed by id. The engine filters: at most len(row_ids) rows come back. Raises
    RuntimeError when an id names no row (the data changed since the ids were planned)."""
    ided = with_row_ids(table, id_column)
    found = ided.filter(ided[ROW_ID].isin(list(row_ids))).execute()
    by_id = {
        str(row[ROW_ID]): {str(key): json_value(value) for key, value in row.items()}
        for row in found.to_dict(orient="records")
    }
    gone = [row_id for row_id in row_ids if row_id not in by_id]
    if gone:
        raise RuntimeError(
            f"{len(gone)} of the {len(row_ids)} planned rows are no longer in the window "
            f"(first: {gone[0]}); the data changed since the plan, so plan again"
        )
    return by_id


def check_columns(table: ir.Table, names: Sequence[str | None], dataset: str) -> None:
    """Refuse (PlanRefused) names that are not columns of `table`, before a query uses
    them; None entries are ignored."""
    available = list(table.schema().names)
    unknown = [name for name in dict.fromkeys(names) if name and name not in available]
    if unknown:
        raise PlanRefused(
            f"dataset {dataset!r} has no column(s) {', '.join(unknown)}; "
            f"it has {', '.join(available)}"
        )


def seeded_key(row_id: ir.StringValue, seed: int) -> ir.StringValue:
    """md5 of `<row_id>:<seed>` (32 hex digits): sort by it for a seeded random order."""
    return md5_hex(row_id + ibis.literal(f":{int(seed)}"))


def content_hash(table: ir.Table, columns: Sequence[str] | None = None) -> ir.StringValue:
    """The first HASH_DIGITS hex digits of the md5 of each row's canonical text (over
    `columns`, default all)."""
    return md5_hex(canonical_text(table, columns)).substr(0, HASH_DIGITS)


def epoch_micros(table: ir.Table, name: str) -> ir.IntegerValue:
    """Microseconds since 1970-01-01T00:00:00Z of timestamp column `name` (a time without
    a time zone read as UTC), the same integer on every engine, with each engine's own
    function where it has one: Ibis' portable `epoch_seconds` casts every DuckDB time
    through the ICU extension (2 s per 10M rows against 0.2 s for `epoch_us`)."""
    column = table[name]
    backend = _backend_name(table)
    if backend == "pyspark":
        # Spark reads a Parquet time without a zone as TIMESTAMP_NTZ, which unix_micros
        # refuses; the session's zone is UTC, so the cast keeps the instant Warden means.
        zoned = column.cast(dt.Timestamp(timezone="UTC"))
        return _spark_unix_micros(zoned).cast("int64")  # type: ignore[no-any-return]
    if backend == "duckdb":
        return _duckdb_epoch_us(column).cast("int64")  # type: ignore[no-any-return]
    # Whole seconds first: some engines round a fractional epoch when casting it to integer.
    seconds = column.truncate("s").epoch_seconds().cast("int64")  # type: ignore[attr-defined]
    micros = seconds * 1_000_000 + column.microsecond()  # type: ignore[attr-defined]
    return micros.cast("int64")  # type: ignore[no-any-return]


def canonical_text(
    table: ir.Table,
    columns: Sequence[str] | None = None,
    *,
    parts: dict[str, tuple[str, str]] | None = None,
) -> ir.StringValue:
    """The canonical text of each row of `table` over `columns` (default: all; see the
    module docstring). `parts` names, per float column, the columns of `table` that hold
    its exponent and digits (`_with_float_parts`); without them they are inlined."""
    names = sorted(table.schema().names if columns is None else columns)
    if not names:
        raise PlanRefused("the table has no columns to hash")
    text: ir.StringValue | None = None
    for name in names:
        part = ibis.literal(f"{name}=") + _cell(table, name, (parts or {}).get(name))
        text = part if text is None else text + ";" + part
    assert text is not None
    return text


#: Temporary column holding the content hash while the ids are numbered.
_HASH = "warden_content_hash"


def _numbered(content: ir.StringValue) -> ir.StringValue:
    copy = ibis.row_number().over(group_by=content, order_by=content)  # 0 for the first
    return ibis.cases((copy == 0, content), else_=content + "-" + (copy + 1).cast("string"))


def _backend_name(table: ir.Table) -> str:
    try:
        return str(table.get_backend().name)
    except ibis.common.exceptions.IbisError:  # an unbound table (a doctest's memtable)
        return ""


def _cell(table: ir.Table, name: str, float_parts: tuple[str, str] | None) -> ir.StringValue:
    column = table[name]
    kind = column.type()
    if kind.is_timestamp():
        escaped = epoch_micros(table, name).cast("string")
    elif float_parts is not None:
        exponent, digits = (table[part] for part in float_parts)
        escaped = _float_text(column, exponent, digits)  # type: ignore[arg-type]
    elif kind.is_numeric() or kind.is_boolean():
        escaped = _value_text(column)  # digits, signs, `e`, `inf`: nothing to escape
    else:
        escaped = _value_text(column).replace("\\", "\\\\").replace(";", "\\;")
    missing = column.isnull()
    if kind.is_floating():
        # Spark reads NaN as null (Ibis' default there), so NaN is missing everywhere.
        missing = missing | column.isnan()  # type: ignore[attr-defined]
    return missing.ifelse(ibis.literal(NULL_TEXT), escaped)


def _value_text(column: ir.Column) -> ir.StringValue:
    kind = column.type()
    formatter: Callable[[ir.Column], ir.StringValue]
    if kind.is_string():
        return column  # type: ignore[return-value]
    if kind.is_boolean():
        formatter = _boolean_text
    elif kind.is_integer():
        formatter = _integer_text
    elif kind.is_floating() or kind.is_decimal():
        formatter = _float_text
    else:
        formatter = _cast_text
    return formatter(column)


def _boolean_text(column: ir.Column) -> ir.StringValue:
    return column.ifelse(ibis.literal("true"), ibis.literal("false"))  # type: ignore[attr-defined]


def _integer_text(column: ir.Column) -> ir.StringValue:
    return column.cast("int64").cast("string")


def _cast_text(column: ir.Column) -> ir.StringValue:
    return column.cast("string")


def _magnitude(column: ir.Column) -> tuple[ir.BooleanValue, ir.FloatingValue]:
    """(whether the value is an ordinary number, |x| or 1 for the others): log10 only ever
    sees a positive finite number."""
    x = column.cast("float64")
    ordinary = ~(x.isnan() | x.isinf() | (x == 0))  # type: ignore[attr-defined]
    return ordinary, ordinary.ifelse(x.abs(), 1.0)  # type: ignore[attr-defined,return-value]


def _exponent(magnitude: ir.FloatingValue) -> ir.IntegerValue:
    return (magnitude.log10() + 1e-12).floor().cast("int64")  # type: ignore[no-any-return]


def _digits(magnitude: ir.FloatingValue, exponent: ir.IntegerValue) -> ir.FloatingValue:
    # 10^shift in two halves, each within a double's range even for 1e-300 (whose full
    # shift, 10^314, would overflow). The exponents are floats: PostgreSQL would compute
    # pow(10.0, integer) in NUMERIC and round 10^-200 to zero.
    shift = FLOAT_DIGITS - 1 - exponent
    half = shift // 2
    ten = ibis.literal(10.0)
    scaled = magnitude * ten.pow(half.cast("float64")) * ten.pow((shift - half).cast("float64"))
    return (scaled + 0.5).floor()  # type: ignore[no-any-return]


def _with_float_parts(
    table: ir.Table, names: Sequence[str]
) -> tuple[ir.Table, dict[str, tuple[str, str]]]:
    """`table` with each float (or decimal) column's exponent and digits (module
    docstring) computed in projections of their own, and their names per column. Inlined,
    each value's expression repeats its magnitude and exponent a dozen times: SQL of tens
    of kilobytes for a wide table, a third of a second to compile, and more than Spark's
    default heap can parse. Staged, the arithmetic is the same, so the text is too."""
    floats = [
        name
        for name in names
        if table[name].type().is_floating() or table[name].type().is_decimal()
    ]
    if not floats:
        return table, {}
    magnitudes = {f"warden_m{i}": _magnitude(table[name])[1] for i, name in enumerate(floats)}
    staged = table.mutate(**magnitudes)
    exponents = {f"warden_e{i}": _exponent(staged[f"warden_m{i}"]) for i in range(len(floats))}
    staged = staged.mutate(**exponents)
    digits = {
        f"warden_d{i}": _digits(staged[f"warden_m{i}"], staged[f"warden_e{i}"])
        for i in range(len(floats))
    }
    staged = staged.mutate(**digits).drop(*magnitudes)
    return staged, {name: (f"warden_e{i}", f"warden_d{i}") for i, name in enumerate(floats)}


def _float_text(
    column: ir.Column,
    exponent: ir.IntegerValue | None = None,
    digits: ir.FloatingValue | None = None,
) -> ir.StringValue:
    """A float's canonical text; `exponent` and `digits` when computed beforehand
    (`_with_float_parts`), else inline."""
    x = column.cast("float64")
    ordinary, magnitude = _magnitude(column)
    if exponent is None or digits is None:
        exponent = _exponent(magnitude)
        digits = _digits(magnitude, exponent)
    sign = (x < 0).ifelse(ibis.literal("-"), ibis.literal(""))
    finite = sign + digits.cast("int64").cast("string") + "e" + exponent.cast("string")
    return ibis.cases(
        (ordinary, finite),
        (x == 0, ibis.literal("0")),
        (x > 0, ibis.literal("inf")),
        else_=ibis.literal("-inf"),
    )


def _checked_id_column(table: ir.Table, id_column: str) -> ir.StringValue:
    check_id_column(table, id_column)
    return table[id_column].cast("string")  # type: ignore[no-any-return]


def check_id_column(table: ir.Table, id_column: str) -> None:
    """Refuse (PlanRefused) an id_column that is unknown, missing in a row of `table` or
    not unique in it; one aggregate query."""
    if id_column not in table.schema().names:
        raise PlanRefused(
            f"id_column {id_column!r} is not a column of the dataset; it has "
            f"{', '.join(table.schema().names)}"
        )
    column = table[id_column]
    stats = fetch_one(
        table.aggregate(
            rows=table.count(), distinct=column.nunique(), missing=column.isnull().sum()
        )
    )
    assert stats is not None  # an aggregate without a group by has one row
    rows, distinct, missing = (int(value or 0) for value in stats)
    if missing:
        raise PlanRefused(
            f"id_column {id_column!r} is missing in {missing:,} rows of the window; name a "
            "column that every row has, or leave id_column out to use content hashes"
        )
    if distinct != rows:
        raise PlanRefused(
            f"id_column {id_column!r} is not unique in the window ({distinct:,} distinct "
            f"values in {rows:,} rows); name a unique column or leave id_column out to use "
            "content hashes"
        )
