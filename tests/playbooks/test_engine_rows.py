"""Row ids and seeded keys computed by the engine: the canonical text formats values as its
docstring says (floats checked against Python's own correctly rounded formatting),
duplicates get distinct ids, and a bad id column is refused."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from playbooks.base import PlanRefused
from playbooks.engine_rows import (
    ROW_ID,
    canonical_text,
    content_hash,
    row_id_expr,
    seeded_key,
    with_row_ids,
)


def _table(tmp_path: Path, columns: dict[str, pa.Array | list]) -> ibis.Table:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table(columns), path)
    connection = ibis.duckdb.connect()
    connection.raw_sql("SET TimeZone = 'UTC'")
    return connection.read_parquet(path)


def _decimal_float_text(value: float) -> str:
    """The float form with Python's correctly rounded decimal formatting (`%.14e`)."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{abs(value):.14e}".split("e")
    return f"{'-' if value < 0 else ''}{mantissa.replace('.', '')}e{int(exponent)}"


def _documented_float_text(value: float) -> str:
    """The float form computed as the docstring says, in Python's (IEEE) doubles."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    exponent = math.floor(math.log10(magnitude) + 1e-12)
    shift = 14 - exponent
    half = shift // 2
    digits = math.floor(magnitude * 10.0**half * 10.0 ** (shift - half) + 0.5)
    return f"{'-' if value < 0 else ''}{digits}e{exponent}"


def test_floats_have_fifteen_significant_digits_like_python(tmp_path: Path):
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.normal(0, 1, 500) * 10.0 ** rng.integers(-30, 30, 500),
            [0.1, 1.0, 10.0, 1000.0, 999.999, 1e-300, 123456789.125, -2500.0, 0.0, 2.0**52],
        ]
    )
    table = _table(tmp_path, {"x": values})
    texts = list(table.select(text=canonical_text(table)).execute()["text"])
    assert texts == [f"x={_documented_float_text(float(v))}" for v in values]
    assert all(len(text.split("e")[0].lstrip("x=-")) == 15 for text in texts if text != "x=0")
    # Decimal rounding differs only where the scaled value (~1e14, whose ulp is up to 1/8)
    # is within an ulp of a half: a few percent of random values, by one unit.
    decimal = [f"x={_decimal_float_text(float(v))}" for v in values]
    differing = [(a, b) for a, b in zip(texts, decimal, strict=True) if a != b]
    print(f"{len(differing)} of {len(values)} floats differ from %.14e: {differing}")
    assert len(differing) <= len(values) // 10
    for ours, theirs in differing:
        assert abs(int(ours.split("e")[0][2:]) - int(theirs.split("e")[0][2:])) == 1


def test_every_type_has_one_documented_form(tmp_path: Path):
    from datetime import UTC, date, datetime

    table = _table(
        tmp_path,
        {
            "when": pa.array(
                [datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), None],
                pa.timestamp("us", "UTC"),
            ),
            "day": pa.array([date(2000, 2, 29), None], pa.date32()),
            "flag": [True, None],
            "count": pa.array([-(2**40), None], pa.int64()),
            "name": ["a;b\\c", None],
            "ratio": [float("inf"), float("nan")],
        },
    )
    texts = list(table.select(text=canonical_text(table)).execute()["text"])
    assert texts == [
        "count=-1099511627776;day=2000-02-29;flag=true;name=a\\;b\\\\c;ratio=inf;"
        "when=946684799999999",
        "count=\\N;day=\\N;flag=\\N;name=\\N;ratio=\\N;when=\\N",
    ]


def test_identical_rows_get_numbered_ids_and_the_hash_is_md5_of_the_text(tmp_path: Path):
    table = _table(tmp_path, {"x": [1.5, 1.5, 2.5, 1.5], "s": ["a", "a", "a", "a"]})
    ids = sorted(with_row_ids(table, None).execute()[ROW_ID])
    first = hashlib.md5(b"s=a;x=150000000000000e0").hexdigest()[:16]
    other = hashlib.md5(b"s=a;x=250000000000000e0").hexdigest()[:16]
    assert ids == sorted([first, f"{first}-2", f"{first}-3", other])
    # The one-expression form gives the same ids as the staged one.
    single = table.select(row_id=row_id_expr(table, None)).execute()["row_id"]
    assert sorted(single) == ids
    assert set(table.select(h=content_hash(table)).execute()["h"]) == {first, other}


def test_seeded_keys_are_md5_of_id_and_seed(tmp_path: Path):
    table = _table(tmp_path, {"id": ["a", "b", "c"]})
    keyed = table.select("id", k7=seeded_key(table.id, 7), k8=seeded_key(table.id, 8)).execute()
    for row in keyed.itertuples():
        assert row.k7 == hashlib.md5(f"{row.id}:7".encode()).hexdigest()
    assert list(keyed["k7"]) != list(keyed["k8"])


def test_an_id_column_is_used_as_text_and_checked(tmp_path: Path):
    table = _table(tmp_path, {"id": [3, 1, 2], "dup": [1, 1, 2], "gap": [1, None, 2]})
    assert sorted(with_row_ids(table, "id").execute()[ROW_ID]) == ["1", "2", "3"]
    with pytest.raises(PlanRefused, match=r"'dup' is not unique in the window \(2 distinct"):
        row_id_expr(table, "dup")
    with pytest.raises(PlanRefused, match="'gap' is missing in 1 rows"):
        row_id_expr(table, "gap")
    with pytest.raises(PlanRefused, match="'nope' is not a column of the dataset"):
        row_id_expr(table, "nope")
