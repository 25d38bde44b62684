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

__all__ = ["METHODS", "get_method"]
