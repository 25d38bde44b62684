"""Multiple-testing correction across the columns tested in one scan.

Testing 20 columns at p < 0.05 raises a false alarm in 64% of clean scans. Benjamini-Hochberg
(default) keeps the expected share of false discoveries at the threshold and, when nothing
drifted, the chance of any false alarm too; Bonferroni keeps the chance of any false alarm
at the threshold in every case, at a cost in power.

>>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
[0.04, 0.0533333333333, 0.0533333333333, 0.5]
>>> bonferroni([0.01, 0.2])
[0.02, 0.4]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.drift.correction_names import Correction


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (compare each to the FDR level); order follows the input."""
    count = len(p_values)
    if count == 0:
        return []
    order = np.argsort(p_values)
    ranked = np.asarray(p_values, dtype=float)[order] * count / np.arange(1, count + 1)
    adjusted_sorted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    adjusted = np.empty(count)
    adjusted[order] = adjusted_sorted
    # 12 significant digits (not decimals): tidy output without turning 1e-244 into 0.
    return [float(f"{float(value):.12g}") for value in adjusted]


def bonferroni(p_values: Sequence[float]) -> list[float]:
    """Bonferroni-adjusted p-values: each multiplied by the number of tests, capped at 1."""
    return [min(1.0, float(p) * len(p_values)) for p in p_values]


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    if correction == "bh":
        return benjamini_hochberg(p_values)
    if correction == "bonferroni":
        return bonferroni(p_values)
    return [float(p) for p in p_values]
