"""Two-sample Kolmogorov-Smirnov test for numeric columns.

The statistic D is the largest gap between the two empirical CDFs (0 = identical, 1 =
disjoint); the column drifts when the p-value is below the threshold (default 0.05, before
multiple-testing correction across the scan's columns). The effect size is D itself.

With raw values (small windows) the test is scipy's exact `ks_2samp`. On large windows D is
read at the reference histogram's bin edges, which can only under-estimate the true D (the
gap between edges is not seen), and the p-value uses the asymptotic Kolmogorov distribution.

>>> from detectors.profile import ColumnProfile
>>> ref = ColumnProfile("x", "numeric", "float64", 5, 0, values=(1.0, 2.0, 3.0, 4.0, 5.0))
>>> cur = ColumnProfile("x", "numeric", "float64", 5, 0, values=(6.0, 7.0, 8.0, 9.0, 10.0))
>>> round(KolmogorovSmirnov().score(ref, cur).statistic, 3)
1.0
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from detectors.drift.base import DriftMethod, MethodScore, missing, register
from detectors.profile import ColumnProfile


@register
class KolmogorovSmirnov(DriftMethod):
    name = "ks"
    kinds = ("numeric",)
    is_test = True
    default_threshold = 0.05

    def score(self, reference: ColumnProfile, current: ColumnProfile) -> MethodScore:
        self.check_kind(reference)
        if reference.values is not None and current.values is not None:
            # Imported here: only small windows ship raw values, and scipy.stats costs about
            # 50 MB and a second to import, which large scans then never pay.
            from scipy import stats

            result = stats.ks_2samp(reference.values, current.values, method="auto")
            return MethodScore(
                float(result.statistic), float(result.pvalue), float(result.statistic)
            )
        if reference.histogram is None or current.histogram is None:
            raise missing("raw values or histograms", reference.name)
        ref_cdf = np.cumsum(reference.histogram.counts) / max(1, reference.count)
        cur_cdf = np.cumsum(current.histogram.counts) / max(1, current.count)
        d = float(np.max(np.abs(ref_cdf - cur_cdf)))
        n, m = reference.count, current.count
        p_value = float(special.kolmogorov(d * math.sqrt(n * m / (n + m)))) if n and m else 1.0
        return MethodScore(d, p_value, d)
