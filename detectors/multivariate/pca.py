"""The PCA model: fitted from engine aggregates, kept as a JSON-safe record (pure).

The fit needs only the mean vector and the second moments of the standardised inputs over
the fit part of the reference (`engine_queries.cross_moments`: one aggregate, p(p+3)/2
sums), so it is exact over as many rows as the reference has and never pulls rows into
Python. The components kept are the fewest whose eigenvalues explain `variance_share` of
the total; the reconstruction error of a row is its squared distance to their span,
``e = z' (I - W W') z``.

>>> import numpy as np
>>> covariance = np.array([[1.0, 0.8], [0.8, 1.0]])
>>> components, eigenvalues = principal_components(covariance, variance_share=0.85)
>>> components.shape, [round(v, 2) for v in eigenvalues]
((2, 1), [1.8, 0.2])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.multivariate.encoding import Encoding

#: Version of the stored model's shape; a cached model of another version is refitted.
MODEL_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Calibration:
    """The per-row reconstruction error over the reference's calibration part (the rows
    not used to fit): `rows`, its `mean` and sample `variance`, and each input's mean
    squared residual (what a window's is compared with to name the contributors)."""

    rows: int
    mean: float
    variance: float
    residuals: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "mean": self.mean,
            "variance": self.variance,
            "residuals": list(self.residuals),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            int(data["rows"]),
            float(data["mean"]),
            float(data["variance"]),
            tuple(float(value) for value in data.get("residuals") or ()),
        )


@dataclass(frozen=True)
class PcaModel:
    """A fitted model: the encoding, the kept components (p x k, column-major as lists of
    p values), all eigenvalues (descending), the rows fitted on, and its calibration."""

    encoding: Encoding
    components: tuple[tuple[float, ...], ...]
    eigenvalues: tuple[float, ...]
    fit_rows: int
    seed: int
    calibration: Calibration | None = None
    schema_version: int = field(default=MODEL_SCHEMA_VERSION)

    @property
    def kept(self) -> int:
        return len(self.components)

    @property
    def explained_share(self) -> float:
        total = sum(self.eigenvalues)
        return sum(self.eigenvalues[: self.kept]) / total if total > 0 else 0.0

    def residual_matrix(self) -> np.ndarray:
        """M = I - W W' (p x p): the row's error is z' M z; row j of M z is input j's
        residual."""
        weights = np.array(self.components, dtype=float).T  # p x k
        return np.eye(len(self.encoding.inputs)) - weights @ weights.T

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "encoding": self.encoding.to_dict(),
            "components": [list(component) for component in self.components],
            "eigenvalues": list(self.eigenvalues),
            "fit_rows": self.fit_rows,
            "seed": self.seed,
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PcaModel:
        if data.get("schema_version") != MODEL_SCHEMA_VERSION:
            raise ValueError(f"model schema {data.get('schema_version')!r} is not current")
        calibration = data.get("calibration")
        return cls(
            encoding=Encoding.from_dict(data["encoding"]),
            components=tuple(tuple(float(v) for v in c) for c in data["components"]),
            eigenvalues=tuple(float(v) for v in data["eigenvalues"]),
            fit_rows=int(data["fit_rows"]),
            seed=int(data["seed"]),
            calibration=None if calibration is None else Calibration.from_dict(calibration),
        )


def covariance_from_moments(rows: int, means: np.ndarray, second_moments: np.ndarray) -> np.ndarray:
    """The sample covariance matrix of the inputs from their means and the means of their
    pairwise products over `rows` rows."""
    if rows < 2:
        raise ValueError("a covariance needs at least two rows")
    population = second_moments - np.outer(means, means)
    return population * (rows / (rows - 1))


def principal_components(
    covariance: np.ndarray, *, variance_share: float
) -> tuple[np.ndarray, list[float]]:
    """The leading eigenvectors (p x k) that explain `variance_share` of the trace, and all
    eigenvalues in descending order (negative rounding noise clipped to 0)."""
    eigenvalues, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    vectors = vectors[:, order]
    total = float(eigenvalues.sum())
    if total <= 0:
        raise ValueError("the inputs have no variance")
    cumulative = np.cumsum(eigenvalues) / total
    kept = int(np.searchsorted(cumulative, variance_share - 1e-12) + 1)
    kept = min(kept, len(eigenvalues))
    # A sign convention, so the same data gives the same stored model everywhere.
    for index in range(kept):
        pivot = int(np.argmax(np.abs(vectors[:, index])))
        if vectors[pivot, index] < 0:
            vectors[:, index] = -vectors[:, index]
    return vectors[:, :kept], [float(value) for value in eigenvalues]


def fit_model(
    encoding: Encoding,
    *,
    rows: int,
    means: np.ndarray,
    second_moments: np.ndarray,
    variance_share: float,
    seed: int,
) -> PcaModel:
    """The model of `encoding` from the fit part's moments (not yet calibrated)."""
    covariance = covariance_from_moments(rows, means, second_moments)
    components, eigenvalues = principal_components(covariance, variance_share=variance_share)
    return PcaModel(
        encoding=encoding,
        components=tuple(
            tuple(float(v) for v in components[:, k]) for k in range(components.shape[1])
        ),
        eigenvalues=tuple(eigenvalues),
        fit_rows=rows,
        seed=seed,
    )
