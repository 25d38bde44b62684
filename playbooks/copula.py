"""A seeded Gaussian-copula generator: numeric columns keep their marginals and rank
correlations, categorical columns their frequencies.

The model is built from what the engine returns (`synthetic_fit.py`), never from a whole
reference in memory:

- each numeric column's quantile function at `QUANTILE_LEVELS` (1,001 levels, 0 to 1) from
  the non-missing values of the seeded sample, and its missing share from engine counts
  over the whole reference. Levels 0 and 1 are the sample's minimum and maximum, so
  generated numbers stay within the range of real values;
- the correlation of the numeric columns' normal scores in the sample,
  z = Phi^-1(rank / (n + 1)); a missing value scores 0 (the mean), which shrinks
  correlations towards 0 a little when values are missing, never away from it. The matrix
  is made positive definite by clipping its eigenvalues at 1e-6;
- each other column's frequencies: engine counts of its `top_k` most frequent values over
  the whole reference, missing values as a value, and the rest of the reference's values
  (the tail) spread over the sample's values outside the top K in their sample
  proportions (dropped, and the others rescaled, when the sample holds none).

Sample (m rows, `numpy.random.default_rng(seed)`, always drawn in the same order: the
normal block, then missing masks column by column, then categorical columns in order):
z ~ N(0, R), u = Phi(z), x_j = quantile_j(u_j), linear between levels. Integer columns are
rounded back to integers.

`GENERATOR` and `GENERATOR_VERSION` are written into every generated row; the version
changes whenever the same seed would give different rows.

>>> len(QUANTILE_LEVELS), float(QUANTILE_LEVELS[500])
(1001, 0.5)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

GENERATOR = "gaussian_copula"
#: 2: marginals from engine aggregates and a seeded engine sample, identifiers left out.
GENERATOR_VERSION = "2"
#: Smallest eigenvalue kept in the correlation matrix (keeps its Cholesky factor defined).
MIN_EIGENVALUE = 1e-6
#: Probabilities at which a numeric column's quantile function is kept.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 1001)


@dataclass
class NumericMarginal:
    name: str
    #: The column's quantiles at `QUANTILE_LEVELS`.
    quantiles: np.ndarray
    missing_share: float
    integer: bool
    dtype: Any


@dataclass
class CategoricalMarginal:
    name: str
    values: list[Any]
    shares: np.ndarray
    dtype: Any


@dataclass
class CopulaModel:
    numeric: list[NumericMarginal] = field(default_factory=list)
    categorical: list[CategoricalMarginal] = field(default_factory=list)
    correlation: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def fingerprint(self) -> str:
        """sha256 (hex) of everything the model holds: the same data and seed give the
        same fingerprint, so a plan can tell that its reference changed."""
        document = {
            "numeric": [
                [m.name, [float(q) for q in m.quantiles], m.missing_share, m.integer]
                for m in self.numeric
            ],
            "categorical": [
                [c.name, [None if v is None else str(v) for v in c.values], c.shares.tolist()]
                for c in self.categorical
            ],
            "correlation": self.correlation.tolist(),
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def numeric_marginal(
    series: pd.Series, missing_share: float, *, integer: bool
) -> NumericMarginal | None:
    """The marginal of a numeric column from its sample values, or None when the sample
    holds no value of it."""
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    known = numbers[~np.isnan(numbers)]
    if not len(known):
        return None
    quantiles = np.quantile(np.sort(known), QUANTILE_LEVELS)
    return NumericMarginal(str(series.name), quantiles, missing_share, integer, series.dtype)


def categorical_marginal(
    series: pd.Series,
    top_counts: Sequence[tuple[Any, int]],
    *,
    missing: int,
    tail: int,
) -> CategoricalMarginal:
    """The frequencies of a column: `top_counts` (value, rows) from the engine, `missing`
    rows without a value and `tail` rows with a value outside the top; the tail is spread
    over the sample `series`' other values in their sample proportions."""
    counts: dict[Any, float] = {value: float(count) for value, count in top_counts}
    if missing:
        counts[None] = float(missing)
    if tail:
        present = series[series.notna()]
        others = present[~present.isin([v for v in counts if v is not None])]
        sample_counts = others.astype(object).value_counts()
        total = float(sample_counts.sum())
        for value, count in sample_counts.items():
            counts[value] = counts.get(value, 0.0) + tail * float(count) / total
    if not counts:
        counts[None] = 1.0
    # A deterministic order whatever order the rows came in: by text, missing last.
    items = sorted(counts.items(), key=lambda item: (item[0] is None, str(item[0])))
    totals = np.array([count for _, count in items], dtype=float)
    values = [value for value, _ in items]
    return CategoricalMarginal(str(series.name), values, totals / totals.sum(), series.dtype)


def correlation(sample: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The positive-definite correlation of the normal scores of `columns` in `sample`."""
    if not columns:
        return np.zeros((0, 0))
    scores = []
    for name in columns:
        numbers = pd.to_numeric(sample[name], errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(numbers)
        ranks = pd.Series(numbers).rank(method="average").to_numpy()
        score = np.zeros(len(numbers))
        if known.any():
            score[known] = ndtri(ranks[known] / (known.sum() + 1))
        scores.append(score)
    if len(sample) < 2:
        return np.eye(len(columns))
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.atleast_2d(np.asarray(np.corrcoef(np.vstack(scores)), dtype=float))
    return _positive_definite(matrix)


def sample(model: CopulaModel, rows: int, seed: int) -> pd.DataFrame:
    """`rows` generated rows, the same for the same model and seed."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    if model.numeric:
        factor = np.linalg.cholesky(model.correlation)
        normal = rng.standard_normal((rows, len(model.numeric))) @ factor.T
        uniform = ndtr(normal)
        for index, marginal in enumerate(model.numeric):
            data[marginal.name] = np.interp(uniform[:, index], QUANTILE_LEVELS, marginal.quantiles)
        for marginal in model.numeric:
            missing = rng.random(rows) < marginal.missing_share
            data[marginal.name] = _restore(data[marginal.name], missing, marginal)
    for category in model.categorical:
        picks = rng.choice(len(category.values), size=rows, p=category.shares)
        values = pd.Series([category.values[i] for i in picks], dtype=object)
        data[category.name] = values.astype(category.dtype) if _castable(category) else values
    return pd.DataFrame(data)


def _castable(marginal: CategoricalMarginal) -> bool:
    return marginal.dtype != object and None not in marginal.values


def _restore(values: np.ndarray, missing: np.ndarray, marginal: NumericMarginal) -> pd.Series:
    if marginal.integer:
        series = pd.Series(np.round(values)).astype("Int64")
        series[missing] = pd.NA
        if missing.any():
            return series
        return series.astype(marginal.dtype if marginal.dtype.kind in "iu" else "int64")
    series = pd.Series(values, dtype=float)
    series[missing] = np.nan
    return series


def _positive_definite(matrix: np.ndarray) -> np.ndarray:
    matrix = np.nan_to_num(matrix, nan=0.0)
    np.fill_diagonal(matrix, 1.0)
    eigenvalues, vectors = np.linalg.eigh(matrix)
    repaired = vectors @ np.diag(np.maximum(eigenvalues, MIN_EIGENVALUE)) @ vectors.T
    scale = np.sqrt(np.diag(repaired))
    return repaired / np.outer(scale, scale)
