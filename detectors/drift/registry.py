"""The drift methods registry, filled by importing every method module."""

from __future__ import annotations

# Importing the method modules registers them.
from detectors.drift import (  # noqa: F401
    chi_square,
    jensen_shannon,
    ks,
    psi,
    wasserstein,
    z_test,
)
from detectors.drift.base import METHODS, get_method
from detectors.profile import ColumnProfile

__all__ = ["METHODS", "companion_p_value", "get_method"]


def companion_p_value(reference: ColumnProfile, current: ColumnProfile) -> float:
    """The p-value of the test that gates a distance on the same profiles: KS for numeric
    columns, chi-square for categorical ones (1.0 when the test has none)."""
    test = "ks" if reference.kind == "numeric" else "chi_square"
    p_value = get_method(test).score(reference, current).p_value
    return 1.0 if p_value is None else p_value
