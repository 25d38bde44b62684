"""Wasserstein (earth mover's) distance for numeric columns, normalised by the reference std.

W1 is the mean absolute horizontal gap between the two quantile functions; divided by the
reference standard deviation it reads in "standard deviations moved" (0.1 = a tenth of a std,
Evidently's default threshold for large samples). Distance, not a test: the column drifts when
the statistic is >= the threshold (and its companion KS test is significant; see `detector.py`).

The effect size is the statistic capped at 1, on purpose: every method's effect lies in
[0, 1], the scale `min_effect` is read on, and a distance's verdict never reads its effect, so
the cap changes no alert. A finding keeps both: `statistic` is the uncapped distance (1.035 =
the window moved 1.035 reference standard deviations) and `details.effect` the capped 1.0.

With raw values it is scipy's exact `wasserstein_distance`; on large windows it integrates
the gap between the 101 profile quantiles (trapezoid rule), whose error is bounded by the
spread inside the outermost 1% tails plus the interpolation between percentiles.

>>> from detectors.profile import ColumnProfile
>>> ref = ColumnProfile("x", "numeric", "float64", 4, 0, std=1.0, values=(0.0, 1.0, 2.0, 3.0))
>>> cur = ColumnProfile("x", "numeric", "float64", 4, 0, values=(1.0, 2.0, 3.0, 4.0))
>>> WassersteinNormed().score(ref, cur).statistic
1.0
>>> far = ColumnProfile("x", "numeric", "float64", 4, 0, values=(1.5, 2.5, 3.5, 4.5))
>>> score = WassersteinNormed().score(ref, far)
>>> score.statistic, score.effect
(1.5, 1.0)
"""

from __future__ import annotations

import numpy as np

from detectors.drift.base import DriftMethod, MethodScore, missing, register
from detectors.profile import QUANTILE_LEVELS, ColumnProfile


@register
class WassersteinNormed(DriftMethod):
    name = "wasserstein"
    kinds = ("numeric",)
    is_test = False
    default_threshold = 0.1

    def score(self, reference: ColumnProfile, current: ColumnProfile) -> MethodScore:
        self.check_kind(reference)
        if reference.values is not None and current.values is not None:
            from scipy import stats  # small windows only; see ks.py

            distance = float(stats.wasserstein_distance(reference.values, current.values))
        elif reference.quantiles is not None and current.quantiles is not None:
            gaps = np.abs(np.asarray(reference.quantiles) - np.asarray(current.quantiles))
            distance = float(np.trapezoid(gaps, QUANTILE_LEVELS))
        else:
            raise missing("raw values or quantiles", reference.name)
        scale = reference.std if reference.std else 0.0
        if scale <= 0.0:  # noqa: SIM108 - the ternary would nest another ternary
            # A constant reference: any movement at all is total drift.
            statistic = 0.0 if distance == 0.0 else float("inf")
        else:
            statistic = distance / scale
        return MethodScore(statistic, None, min(1.0, statistic))
