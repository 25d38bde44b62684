"""Jensen-Shannon distance between the reference and current distributions.

On categorical columns it compares category shares; on numeric columns, shares of the
reference-derived histogram bins. It is the square root of the JS divergence with natural
logarithms, so it lies in [0, sqrt(ln 2)] ~ [0, 0.833]; 0.1 is Evidently's default threshold.
Distance, not a test: the column drifts when the statistic is >= the threshold.

>>> from detectors.profile import ColumnProfile
>>> ref = ColumnProfile(
...     "c", "categorical", "string", 2, 0, categories={"a": 1, "b": 1}, other_count=0
... )
>>> JensenShannon().score(ref, ref).statistic
0.0
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from detectors.drift.base import DriftMethod, MethodScore, register
from detectors.drift.distributions import aligned_counts, shares
from detectors.profile import ColumnProfile


@register
class JensenShannon(DriftMethod):
    name = "jensen_shannon"
    kinds = ("numeric", "categorical")
    is_test = False
    default_threshold = 0.1

    def score(self, reference: ColumnProfile, current: ColumnProfile) -> MethodScore:
        self.check_kind(reference)
        ref, cur, _ = aligned_counts(reference, current)
        if ref.sum() == 0 or cur.sum() == 0:
            return MethodScore(0.0, None, 0.0)
        statistic = jensen_shannon_distance(shares(ref), shares(cur))
        return MethodScore(statistic, None, min(1.0, statistic))


def jensen_shannon_distance(p: np.ndarray, q: np.ndarray) -> float:
    """sqrt of the JS divergence (natural logarithms) of two share vectors that sum to 1.

    The same value as `scipy.spatial.distance.jensenshannon` (tested), without importing
    `scipy.spatial` and what it pulls in.
    """
    middle = (p + q) / 2
    divergence = (special.rel_entr(p, middle).sum() + special.rel_entr(q, middle).sum()) / 2
    return math.sqrt(max(0.0, float(divergence)))
