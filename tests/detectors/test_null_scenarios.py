"""Null scenarios: when nothing is wrong, Warden must stay quiet.

200 seeded scans, each comparing two windows of 20 identically distributed columns (14
numeric of two shapes, 6 categorical with 3 to 5 levels) through the engine, as a scan does.
A scan that raises any drift alert is a dataset-level false alarm; the rate must be <= 5%.
Half the scans use small windows (exact tests, where BH holds the family-wise rate at the
5% level) and half realistic ones (distances gated by corrected tests).
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors.drift.detector import detect_drift
from detectors.results import Status

from .conftest import frame, profiles

SCANS = 200


def _columns(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    columns = {
        f"x{i:02d}": rng.normal(0, 1, rows) if i % 2 else rng.lognormal(0, 0.5, rows)
        for i in range(14)
    }
    columns.update({f"c{i}": rng.choice(list("abcde")[: 3 + i % 3], rows) for i in range(6)})
    return columns


@pytest.mark.slow
# About 4 minutes alone on 2 cores; the default 300 s guard against hangs is too tight when
# the machine is shared, so this test gets its own.
@pytest.mark.timeout(900)
def test_two_hundred_clean_scans_raise_at_most_five_percent_false_alarms():
    sizes = [(600, 400), (20_000, 3_000)]
    alarms = {size: 0 for size in sizes}
    for seed in range(SCANS):
        size = sizes[seed % 2]
        rng = np.random.default_rng(seed)
        reference, current = profiles(frame(_columns(rng, size[0])), frame(_columns(rng, size[1])))
        result = detect_drift(reference, current)
        assert result.status in (Status.ok, Status.alert)
        alarms[size] += result.status == Status.alert
    total = sum(alarms.values())
    print(f"false alarms: {alarms} -> {total}/{SCANS}")
    assert total / SCANS <= 0.05
