"""The multivariate queries, as Ibis expressions the engine computes in one pass each.

- `split_bucket`: a seeded hash of each row's values in [0, 1000): the reference rows below
  `FIT_BUCKETS` fit the model, the others calibrate it (an error measured on the rows a PCA
  was fitted on is biased low);
- `cross_moments`: the inputs' means and pairwise product means (the fit);
- `error_moments`: the row count, mean and sample variance of the reconstruction error
  ``z' M z`` (a quadratic form in the standardised inputs, written out term by term), and
  optionally each input's mean squared residual.

Coefficients are written as float literals (`repr`), so a plan key built from the model's
digest names everything the SQL depends on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.multivariate.encoding import EncodedInput, Encoding

if TYPE_CHECKING:
    from ibis.expr.types import FloatingValue, IntegerValue, Table

#: Buckets of `split_bucket` (0..999) whose rows fit the model; the rest calibrate it.
FIT_BUCKETS = 500
BUCKETS = 1000
#: Terms of M below this magnitude are left out of the error expression.
NEGLIGIBLE = 1e-12


def double(value: float) -> FloatingValue:
    """`value` as a DOUBLE constant on every engine: Ibis writes a float literal as plain
    digits, which Spark SQL reads as a DECIMAL, and with such literals Spark's error came
    out 3e-7 (relative) off DuckDB's and numpy's; a cast from text is exact everywhere and
    folded once per query."""
    import ibis

    return ibis.literal(repr(float(value))).cast("float64")  # type: ignore[no-any-return]


def standardised_inputs(table: Table, encoding: Encoding, clip: float) -> list[FloatingValue]:
    """Each input of `encoding` as a float expression over `table`, clipped to +-clip."""
    import ibis

    values = []
    for item in encoding.inputs:
        raw = _raw_input(table, item)
        z = (raw - double(item.center)) / double(item.scale)
        values.append(ibis.greatest(double(-clip), ibis.least(double(clip), z)))
    return values


def _raw_input(table: Table, item: EncodedInput) -> FloatingValue:
    import ibis

    column = table[item.column]
    if item.kind == "numeric":
        return column.cast("float64").fill_null(double(item.center))  # type: ignore[no-any-return]
    text = column.cast("string")
    if item.kind == "level":
        hit = text == ibis.literal(item.level)
    else:
        hit = text.isnull() | ~text.isin(list(item.levels)) if item.levels else ibis.literal(True)
    return ibis.ifelse(hit.fill_null(False), 1.0, 0.0).cast("float64")  # type: ignore[no-any-return]


def row_hash(table: Table, columns: Sequence[str], seed: int) -> IntegerValue:
    """A seeded 64-bit hash of each row's values: the XOR of each column's own hash (a
    number's as a double, a category's as text with its position, so that equal labels in
    two columns do not cancel) and a constant drawn from the seed. Hashing each value as
    it is costs 0.5 s per 10M rows in DuckDB; hashing the row's text (every number printed)
    cost 5.6 s. A null hashes as 0 (PostgreSQL's hash of NULL is NULL)."""
    import ibis

    mixed: Any = ibis.literal(_seed_constant(seed), "int64")
    for position, name in enumerate(columns):
        column = table[name]
        if column.type().is_numeric() or column.type().is_boolean():
            value = column.cast("float64")
        else:
            value = column.cast("string") + f"|{position}"
        mixed = mixed ^ value.hash().fill_null(0)
    return mixed  # type: ignore[no-any-return]


def _seed_constant(seed: int) -> int:
    digest = hashlib.sha256(f"warden-split:{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # a non-negative int64


def split_bucket(table: Table, columns: Sequence[str], seed: int) -> IntegerValue:
    """A seeded pseudo-random bucket in [0, BUCKETS) per row (`row_hash`): the same rows
    fall in the same buckets on every run of one engine."""
    hashed = row_hash(table, columns, seed)
    return ((hashed % BUCKETS) + BUCKETS) % BUCKETS  # type: ignore[no-any-return]


def fit_part(table: Table, columns: Sequence[str], seed: int, *, fit: bool) -> Table:
    """The reference rows that fit the model (`fit`), or the others (calibration)."""
    bucket = split_bucket(table, columns, seed)
    return table.filter(bucket < FIT_BUCKETS if fit else bucket >= FIT_BUCKETS)


def cross_moments(table: Table, encoding: Encoding, clip: float) -> Table:
    """One row: `n`, `m<i>` (mean of input i), `s<i>_<j>` (mean of input i x input j, i <= j)."""
    inputs = standardised_inputs(table, encoding, clip)
    named = table.select(*[value.name(f"z{i}") for i, value in enumerate(inputs)])
    sums: dict[str, Any] = {"n": named.count()}
    for i in range(len(inputs)):
        sums[f"m{i}"] = named[f"z{i}"].mean()
        for j in range(i, len(inputs)):
            sums[f"s{i}_{j}"] = (named[f"z{i}"] * named[f"z{j}"]).mean()
    return named.aggregate(**sums)


def moments_from_row(row: dict[str, Any], inputs: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(rows, means, second moments) from a `cross_moments` row."""
    means = np.array([float(row[f"m{i}"] or 0.0) for i in range(inputs)])
    second = np.zeros((inputs, inputs))
    for i in range(inputs):
        for j in range(i, inputs):
            second[i, j] = second[j, i] = float(row[f"s{i}_{j}"] or 0.0)
    return int(row["n"]), means, second


def error_moments(
    table: Table,
    encoding: Encoding,
    residual_matrix: np.ndarray,
    clip: float,
    *,
    residuals: bool = False,
) -> Table:
    """One row: `n`, `mean` and `variance` (sample) of the reconstruction error; with
    `residuals`, also `r<j>`: input j's mean squared residual ((M z)_j squared)."""
    inputs = standardised_inputs(table, encoding, clip)
    named = table.select(*[value.name(f"z{i}") for i, value in enumerate(inputs)])
    z = [named[f"z{i}"] for i in range(len(inputs))]
    error = _quadratic_form(z, residual_matrix)
    with_error = named.mutate(warden_error=error)
    sums: dict[str, Any] = {
        "n": with_error.count(),
        "mean": with_error["warden_error"].mean(),
        "variance": with_error["warden_error"].var(how="sample"),
    }
    if residuals:
        for j in range(len(inputs)):
            residual = _linear(
                [with_error[f"z{i}"] for i in range(len(inputs))], residual_matrix[j]
            )
            sums[f"r{j}"] = (residual * residual).mean()
    return with_error.aggregate(**sums)


def _quadratic_form(z: list[Any], matrix: np.ndarray) -> Any:

    terms = []
    for i in range(len(z)):
        if abs(matrix[i, i]) > NEGLIGIBLE:
            terms.append(double(matrix[i, i]) * z[i] * z[i])
        for j in range(i + 1, len(z)):
            if abs(matrix[i, j]) > NEGLIGIBLE:
                terms.append(double(2 * matrix[i, j]) * z[i] * z[j])
    return _sum(terms)


def _linear(z: list[Any], coefficients: np.ndarray) -> Any:

    terms = [
        double(weight) * value
        for weight, value in zip(coefficients, z, strict=True)
        if abs(weight) > NEGLIGIBLE
    ]
    return _sum(terms)


def _sum(terms: list[Any]) -> Any:
    """A balanced sum, so the SQL nests log2(terms) deep instead of terms deep."""

    if not terms:
        return double(0.0)
    while len(terms) > 1:
        terms = [
            terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
            for i in range(0, len(terms), 2)
        ]
    return terms[0]
