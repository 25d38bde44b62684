"""Population Stability Index on reference-derived bins or categories.

PSI = sum over bins of (c - r) * ln(c / r), with c and r the current and reference shares
(an empty bin counts as a share of 0.0001 so that the log is defined). Conventional reading:
< 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift; the default threshold is 0.1.
Distance, not a test. The effect size is the statistic capped at 1.

>>> from detectors.profile import ColumnProfile
>>> ref = ColumnProfile(
...     "c", "categorical", "string", 100, 0, categories={"a": 50, "b": 50}, other_count=0
... )
>>> cur = ColumnProfile(
...     "c", "categorical", "string", 100, 0, categories={"a": 90, "b": 10}, other_count=0
... )
>>> round(PopulationStabilityIndex().score(ref, cur).statistic, 4)
0.8789
"""

from __future__ import annotations

import numpy as np

from detectors.drift.base import DriftMethod, MethodScore, register
from detectors.drift.distributions import aligned_counts, shares
from detectors.profile import ColumnProfile

EMPTY_BIN_SHARE = 1e-4


@register
class PopulationStabilityIndex(DriftMethod):
    name = "psi"
    kinds = ("numeric", "categorical")
    is_test = False
    default_threshold = 0.1

    def score(self, reference: ColumnProfile, current: ColumnProfile) -> MethodScore:
        self.check_kind(reference)
        ref, cur, _ = aligned_counts(reference, current)
        ref_share = np.clip(shares(ref), EMPTY_BIN_SHARE, None)
        cur_share = np.clip(shares(cur), EMPTY_BIN_SHARE, None)
        statistic = float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
        return MethodScore(statistic, None, min(1.0, statistic))
