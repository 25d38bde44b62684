"""A seeded Gaussian-copula generator: numeric columns keep their marginals and rank
correlations, categorical columns their frequencies.

Fit (on the reference rows):
- each numeric column's non-missing values, sorted (its empirical quantile function), and
  its missing share;
- the correlation of the columns' normal scores, z = Phi^-1(rank / (n + 1)); a missing
  value scores 0 (the mean), which shrinks correlations towards 0 a little when values are
  missing, never away from it. The matrix is made positive definite by clipping its
  eigenvalues at 1e-6;
- each other column's values and their frequencies (missing values included, as a value).

Sample (m rows, `numpy.random.default_rng(seed)`, always drawn in the same order: the
normal block, then missing masks column by column, then categorical columns in order):
z ~ N(0, R), u = Phi(z), x_j = quantile_j(u_j) with linear interpolation between observed
values, so generated numbers stay within the reference's range. Integer columns are
rounded back to integers.

`GENERATOR` and `GENERATOR_VERSION` are written into every generated row; the version
changes whenever the same seed would give different rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

GENERATOR = "gaussian_copula"
GENERATOR_VERSION = "1"
#: Smallest eigenvalue kept in the correlation matrix (keeps its Cholesky factor defined).
MIN_EIGENVALUE = 1e-6


@dataclass
class NumericMarginal:
    name: str
    sorted_values: np.ndarray
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
    rows: int = 0

    def summary(self) -> dict[str, Any]:
        """What the model learnt, for a plan a person reads."""
        return {
            "generator": GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "fitted_on_rows": self.rows,
            "numeric_columns": [m.name for m in self.numeric],
            "categorical_columns": [m.name for m in self.categorical],
        }


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def fit(frame: pd.DataFrame, columns: list[str]) -> CopulaModel:
    """Fit the model to `columns` of `frame` (at least one row)."""
    model = CopulaModel(rows=len(frame))
    scores = []
    for name in columns:
        series = frame[name]
        if is_numeric(series):
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            known = ~np.isnan(numbers)
            if not known.any():  # no value at all: generate it as a (missing) category
                model.categorical.append(_categorical(series))
                continue
            model.numeric.append(
                NumericMarginal(
                    name,
                    np.sort(numbers[known]),
                    float(1 - known.mean()),
                    pd.api.types.is_integer_dtype(series),
                    series.dtype,
                )
            )
            ranks = pd.Series(numbers).rank(method="average").to_numpy()
            score = np.zeros(len(numbers))
            score[known] = ndtri(ranks[known] / (known.sum() + 1))
            scores.append(score)
        else:
            model.categorical.append(_categorical(series))
    if scores:
        matrix = np.atleast_2d(np.asarray(np.corrcoef(np.vstack(scores)), dtype=float))
        model.correlation = _positive_definite(matrix)
    return model


def sample(model: CopulaModel, rows: int, seed: int) -> pd.DataFrame:
    """`rows` generated rows, the same for the same model and seed."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    if model.numeric:
        factor = np.linalg.cholesky(model.correlation)
        normal = rng.standard_normal((rows, len(model.numeric))) @ factor.T
        uniform = ndtr(normal)
        for index, marginal in enumerate(model.numeric):
            values = np.quantile(marginal.sorted_values, uniform[:, index])
            data[marginal.name] = values
        for marginal in model.numeric:
            missing = rng.random(rows) < marginal.missing_share
            data[marginal.name] = _restore(data[marginal.name], missing, marginal)
    for category in model.categorical:
        picks = rng.choice(len(category.values), size=rows, p=category.shares)
        values = pd.Series([category.values[i] for i in picks], dtype=object)
        data[category.name] = values.astype(category.dtype) if _castable(category) else values
    return pd.DataFrame(data)


def _categorical(series: pd.Series) -> CategoricalMarginal:
    counts = series.astype(object).where(series.notna(), None).value_counts(dropna=False)
    # A deterministic order whatever order the rows came in: by text, missing last.
    items = sorted(counts.items(), key=lambda item: (item[0] is None, str(item[0])))
    values = [value for value, _ in items]
    totals = np.array([count for _, count in items], dtype=float)
    return CategoricalMarginal(series.name, values, totals / totals.sum(), series.dtype)


def _castable(marginal: CategoricalMarginal) -> bool:
    return marginal.dtype != object and None not in marginal.values


def _restore(values: np.ndarray, missing: np.ndarray, marginal: NumericMarginal) -> pd.Series:
    if marginal.integer:
        series = pd.Series(np.round(values)).astype("Int64")
        series[missing] = pd.NA
        return series if missing.any() else series.astype(marginal.dtype)
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
