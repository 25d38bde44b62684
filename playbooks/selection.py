"""Choosing which rows of a window go to human labelling: three seeded strategies.

Every strategy returns row positions in the order they were chosen (best first), with a
score saying why each was chosen. Ties are broken by a key drawn once from
`numpy.random.default_rng(seed)` over the window's deterministic row order, so the same
window and seed always give the same rows.

- `uncertainty`: rows the model was least sure about. With `probability_columns` (one
  column per class), the normalised entropy of the row's class probabilities, in [0, 1];
  otherwise the prediction column must hold a probability of the positive class in
  [0, 1], and the score is 1 - |2p - 1| (1 at p = 0.5, 0 at p = 0 or 1).
- `drift_density`: rows in the regions where the current window is most over-represented
  against the reference. Each incident column is cut into bins (deciles of the reference
  for numbers, values for categories, a bin of its own for missing values); a row scores
  the sum over columns of max(0, log(current share / reference share)) of its bins, with
  add-one-half smoothing so that a bin the reference never saw scores high but finite.
- `stratified`: a proportional sample across the values of `stratify_by` (or, without
  one, ten equal time slices of the window): each stratum gets its share of the batch by
  largest remainder, drawn at random within it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from playbooks.base import PlanRefused

#: Smoothing added to every bin count (Jeffreys-style add-one-half).
SMOOTHING = 0.5
#: Bins per numeric column for drift_density: reference deciles.
NUMERIC_BINS = 10
#: Time slices of the window used as strata when no `stratify_by` column is given.
TIME_SLICES = 10


@dataclass(frozen=True)
class Selection:
    positions: tuple[int, ...]
    scores: tuple[float, ...]


def select_uncertain(
    frame: pd.DataFrame,
    n: int,
    tie_keys: np.ndarray,
    *,
    prediction_column: str | None,
    probability_columns: Sequence[str],
) -> Selection:
    if probability_columns:
        probabilities = frame[list(probability_columns)].to_numpy(dtype=float)
        totals = probabilities.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = probabilities / totals
            terms = np.where(shares > 0, -shares * np.log(shares), 0.0)
        scores = terms.sum(axis=1) / np.log(len(probability_columns))
    else:
        if not prediction_column:
            raise PlanRefused(
                "the uncertainty strategy needs the dataset's `roles.prediction` column (a "
                "probability) or `probability_columns`"
            )
        values = pd.to_numeric(frame[prediction_column], errors="coerce").to_numpy(dtype=float)
        known = values[~np.isnan(values)]
        if known.size and (known.min() < 0 or known.max() > 1):
            raise PlanRefused(
                f"prediction column {prediction_column!r} holds values outside [0, 1], so it is "
                "not a probability; name the class probability columns in probability_columns"
            )
        scores = 1.0 - np.abs(2.0 * values - 1.0)
    scores = np.where(np.isfinite(scores), scores, -np.inf)  # unknown: chosen last
    return _top(scores, n, tie_keys)


def select_drift_dense(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    columns: Sequence[str],
    n: int,
    tie_keys: np.ndarray,
) -> Selection:
    if reference.empty:
        raise PlanRefused("the reference window holds no rows to compare densities with")
    scores = np.zeros(len(current))
    for column in columns:
        current_bins, reference_bins = _bins(current[column], reference[column])
        labels = np.union1d(current_bins, reference_bins)
        current_counts = _counts(current_bins, labels)
        reference_counts = _counts(reference_bins, labels)
        smoothing = SMOOTHING * len(labels)
        ratio = np.log((current_counts + SMOOTHING) / (len(current_bins) + smoothing)) - np.log(
            (reference_counts + SMOOTHING) / (len(reference_bins) + smoothing)
        )
        scores += np.maximum(ratio, 0.0)[np.searchsorted(labels, current_bins)]
    return _top(scores, n, tie_keys)


def select_stratified(
    frame: pd.DataFrame,
    n: int,
    rng: np.random.Generator,
    *,
    stratify_by: str | None,
    time_column: str,
) -> Selection:
    if stratify_by:
        strata = frame[stratify_by].astype("string").fillna("(missing)").to_numpy(dtype=object)
    else:
        times = pd.to_datetime(frame[time_column], utc=True)
        seconds = (times - times.min()).dt.total_seconds().to_numpy()
        span = float(seconds.max()) if len(seconds) else 0.0
        slots = (
            np.minimum((seconds / span * TIME_SLICES).astype(int), TIME_SLICES - 1)
            if span
            else np.zeros(len(seconds), dtype=int)
        )
        strata = np.array([f"slice {slot + 1:02d}" for slot in slots], dtype=object)
    names, sizes = np.unique(strata, return_counts=True)
    quotas = _allocate(n, dict(zip(names.tolist(), sizes.tolist(), strict=True)))
    positions: list[int] = []
    for name in sorted(quotas):
        members = np.flatnonzero(strata == name)
        positions.extend(int(p) for p in rng.permutation(members)[: quotas[name]])
    return Selection(tuple(positions), tuple(0.0 for _ in positions))


def _top(scores: np.ndarray, n: int, tie_keys: np.ndarray) -> Selection:
    """The n best scores, ties broken by the seeded keys (lexsort: last key is primary)."""
    order = np.lexsort((tie_keys, -scores))[:n]
    return Selection(tuple(int(p) for p in order), tuple(float(scores[p]) for p in order))


def _bins(current: pd.Series, reference: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Bin labels (text) for both windows, on the reference's bins."""
    numeric = pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference)
    if not numeric:
        return _category_labels(current), _category_labels(reference)
    known = reference.dropna().to_numpy(dtype=float)
    edges = (
        np.unique(np.quantile(known, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
        if known.size
        else np.array([])
    )
    return _numeric_labels(current, edges), _numeric_labels(reference, edges)


def _numeric_labels(values: pd.Series, edges: np.ndarray) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    slots = np.searchsorted(edges, numbers, side="right")
    labels = np.array([f"bin {slot:03d}" for slot in slots], dtype=object)
    labels[np.isnan(numbers)] = "(missing)"
    return labels.astype(str)


def _category_labels(values: pd.Series) -> np.ndarray:
    return values.astype("string").fillna("(missing)").to_numpy(dtype=str)


def _counts(bins: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.bincount(np.searchsorted(labels, bins), minlength=len(labels)).astype(float)


def _allocate(n: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split n across strata in proportion to their sizes (largest remainder, ties by
    name), never more than a stratum holds; what a full stratum cannot take goes to the
    others."""
    quotas = dict.fromkeys(sizes, 0)
    left = min(n, sum(sizes.values()))
    while left > 0:
        open_strata = {
            name: size - quotas[name] for name, size in sizes.items() if size > quotas[name]
        }
        total = sum(open_strata.values())
        exact = {name: left * room / total for name, room in open_strata.items()}
        given = {name: min(int(share), open_strata[name]) for name, share in exact.items()}
        remainder = left - sum(given.values())
        for name in sorted(exact, key=lambda key: (-(exact[key] - int(exact[key])), key)):
            if remainder == 0:
                break
            if given[name] < open_strata[name]:
                given[name] += 1
                remainder -= 1
        for name, amount in given.items():
            quotas[name] += amount
        left -= sum(given.values())
    return quotas
