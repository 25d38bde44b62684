"""The closed-form tail probabilities used on aggregated windows agree with scipy.stats.

Large scans compute p-values with `scipy.special` so that they never import `scipy.stats`;
these tests hold them to scipy.stats' own answers on a grid of cases, edge cases included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats
from scipy.spatial import distance

import daemon
from detectors.drift.chi_square import pearson_chi_square
from detectors.drift.jensen_shannon import jensen_shannon_distance
from detectors.drift.z_test import ZTest
from detectors.profile import ColumnProfile
from detectors.quality.checks import _excess_p_value


@pytest.mark.parametrize(
    "table",
    [
        [[10, 20, 30], [12, 18, 35]],
        [[1, 0, 5], [0, 7, 2]],
        [[500_000, 300_000, 200_000], [480_000, 310_000, 210_000]],
        [[3, 4], [4, 3]],
        [[100, 1], [50, 50]],
    ],
)
def test_pearson_chi_square_matches_chi2_contingency(table: list[list[int]]) -> None:
    counts = np.array(table)
    expected = stats.chi2_contingency(counts, correction=False)
    statistic, degrees = pearson_chi_square(counts)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert degrees == expected.dof
    assert special.chdtrc(degrees, statistic) == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(
    ("p", "q"),
    [
        ([0.5, 0.3, 0.2], [0.3, 0.3, 0.4]),
        ([1.0, 0.0, 0.0], [0.0, 0.5, 0.5]),  # disjoint: the maximum, sqrt(ln 2)
        ([0.25, 0.25, 0.5, 0.0], [0.25, 0.25, 0.4, 0.1]),  # a category new in one window
        ([0.2, 0.8], [0.2, 0.8]),
    ],
)
def test_jensen_shannon_distance_matches_scipy(p: list[float], q: list[float]) -> None:
    ours = jensen_shannon_distance(np.array(p), np.array(q))
    assert ours == pytest.approx(distance.jensenshannon(p, q), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("ref_counts", "cur_counts"),
    [((250, 250), (300, 200)), ((5000, 5000), (5050, 4950)), ((90, 10), (10, 90))],
)
def test_z_test_p_value_is_the_two_sided_normal_tail(
    ref_counts: tuple[int, int], cur_counts: tuple[int, int]
) -> None:
    def profile(counts: tuple[int, int]) -> ColumnProfile:
        return ColumnProfile(
            "y",
            "categorical",
            "int64",
            sum(counts),
            0,
            categories={"0": counts[0], "1": counts[1]},
            other_count=0,
        )

    score = ZTest().score(profile(ref_counts), profile(cur_counts))
    assert score.p_value == pytest.approx(2 * stats.norm.sf(abs(score.statistic)), rel=1e-9)


@pytest.mark.parametrize(
    ("observed", "total", "rate"),
    [(0, 100, 0.1), (1, 100, 0.01), (15, 100, 0.1), (40, 1000, 0.02), (5_200, 100_000, 0.05)],
)
def test_binomial_excess_matches_binomtest(observed: int, total: int, rate: float) -> None:
    expected = stats.binomtest(observed, total, rate, alternative="greater").pvalue
    assert _excess_p_value(observed, total, rate) == pytest.approx(expected, rel=1e-9)


def test_the_scan_path_does_not_import_scipy_stats() -> None:
    # scipy.stats costs ~50 MB of memory and ~1 s at start; only the exact small-sample tests
    # (raw values) load it, when they run.
    probe = (
        "import sys, daemon.scan, daemon.scan.datasets, daemon.cli.app; "
        "print(sorted(m for m in ('scipy.stats', 'scipy.spatial') if m in sys.modules))"
    )
    repo_root = str(Path(daemon.__file__).resolve().parent.parent)
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
