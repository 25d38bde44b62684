"""Two-proportion Z-test for binary columns (two categories, such as a 0/1 label).

Tests whether the share of the first category (in sorted order) is the same in both windows,
with the pooled-variance normal approximation. The column drifts when the two-sided p-value
is below the threshold (default 0.05, before multiple-testing correction). The effect size is
the absolute difference of the two shares (0 = same share, 1 = opposite).

>>> from detectors.profile import ColumnProfile
>>> ref = ColumnProfile(
...     "y", "categorical", "int64", 500, 0, categories={"0": 250, "1": 250}, other_count=0
... )
>>> cur = ColumnProfile(
...     "y", "categorical", "int64", 500, 0, categories={"0": 300, "1": 200}, other_count=0
... )
>>> score = ZTest().score(ref, cur)
>>> round(score.statistic, 3), round(score.effect, 2)
(-3.178, 0.1)
"""

from __future__ import annotations

import math

from scipy import special

from detectors.drift.base import DriftMethod, MethodNotApplicable, MethodScore, register
from detectors.drift.distributions import aligned_counts
from detectors.profile import ColumnProfile


@register
class ZTest(DriftMethod):
    name = "z_test"
    kinds = ("categorical",)
    is_test = True
    default_threshold = 0.05

    def score(self, reference: ColumnProfile, current: ColumnProfile) -> MethodScore:
        self.check_kind(reference)
        ref, cur, labels = aligned_counts(reference, current)
        if len(labels) > 2:
            raise MethodNotApplicable(
                f"z_test needs a binary column; {reference.name!r} has {len(labels)} values"
            )
        n_ref, n_cur = ref.sum(), cur.sum()
        if len(labels) < 2 or not n_ref or not n_cur:
            return MethodScore(0.0, 1.0, 0.0)
        # The share of the first category, as statsmodels' proportions_ztest counts it.
        p_ref, p_cur = ref[0] / n_ref, cur[0] / n_cur
        pooled = (ref[0] + cur[0]) / (n_ref + n_cur)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
        if spread == 0:
            return MethodScore(0.0, 1.0, 0.0)
        z = (p_ref - p_cur) / spread
        # Two-sided normal tail: 2 * (1 - Phi(|z|)), written as 2 * Phi(-|z|) for accuracy.
        p_value = float(2 * special.ndtr(-abs(z)))
        return MethodScore(float(z), p_value, float(abs(p_ref - p_cur)))
