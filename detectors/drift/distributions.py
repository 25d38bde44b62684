"""Aligning two profiles' counts onto the same support, for binned and categorical methods."""

from __future__ import annotations

import numpy as np

from detectors.drift.base import missing
from detectors.profile import ColumnProfile


def aligned_counts(
    reference: ColumnProfile, current: ColumnProfile
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference and current counts on one support, with the support's labels.

    Numeric columns use the reference histogram bins (the current profile was computed on
    the same edges). Categorical columns use the union of both category lists, plus "other"
    for values beyond either top-K.
    """
    if reference.kind == "numeric":
        if reference.histogram is None or current.histogram is None:
            raise missing("histograms", reference.name)
        if reference.histogram.edges != current.histogram.edges:
            raise missing("histograms on the same bins", reference.name)
        labels = [f"<= {edge:g}" for edge in reference.histogram.edges] + [
            f"> {reference.histogram.edges[-1]:g}"
        ]
        return (
            np.asarray(reference.histogram.counts, dtype=float),
            np.asarray(current.histogram.counts, dtype=float),
            labels,
        )
    if reference.categories is None or current.categories is None:
        raise missing("category counts", reference.name)
    labels = sorted(set(reference.categories) | set(current.categories))
    ref = [reference.categories.get(label, 0) for label in labels]
    cur = [current.categories.get(label, 0) for label in labels]
    if (reference.other_count or 0) or (current.other_count or 0):
        labels.append("(other)")
        ref.append(reference.other_count or 0)
        cur.append(current.other_count or 0)
    return np.asarray(ref, dtype=float), np.asarray(cur, dtype=float), labels


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def total_variation(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """Half the L1 distance between the two share vectors, in [0, 1]."""
    return float(0.5 * np.abs(shares(reference_counts) - shares(current_counts)).sum())
