"""Multi-index hashing finds exactly the pairs a comparison of every pair finds."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.assets.near_duplicates import flip_masks, radii, search


def _brute_force(probes: list[int], indexed: list[int], limit: int) -> list[tuple[int, int, int]]:
    found = set()
    for a in set(probes):
        for b in set(indexed):
            distance = bin((a ^ b) & (2**64 - 1)).count("1")
            if a != b and distance <= limit:
                found.add((min(a, b), max(a, b), distance))
    return sorted(found)


def _signed(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


@pytest.mark.parametrize("limit", [0, 3, 6, 10, 12])
def test_search_equals_the_all_pairs_comparison(limit: int):
    rng = np.random.default_rng(limit)
    base = [_signed(int(v)) for v in rng.integers(0, 2**63, 600, dtype=np.int64) * 2 + 1]
    near = []
    for value in base[:200]:  # planted neighbours at every distance up to 14
        bits = rng.choice(64, rng.integers(1, 15), replace=False)
        flipped = value
        for bit in bits:
            flipped ^= 1 << int(bit)
        near.append(_signed(flipped & (2**64 - 1)))
    indexed = base + near
    probes = base[:300] + near[:50]
    expected = _brute_force(probes, indexed, limit)
    assert search(probes, indexed, max_distance=limit) == expected
    if limit >= 6:
        assert len(expected) >= 20, "the planted pairs must be found, not only chance pairs"


def test_radii_cover_the_distance_by_pigeonhole():
    for limit in range(64):
        assert sum(r + 1 for r in radii(limit)) > limit
    assert radii(10) == (2, 2, 2, 1)
    assert len(flip_masks(2)) == 1 + 16 + 120 and len(flip_masks(1)) == 17
    with pytest.raises(ValueError):
        radii(64)


def test_nothing_to_search_gives_no_pairs():
    assert search([], [1, 2], max_distance=3) == []
    assert search([5], [5], max_distance=3) == []
