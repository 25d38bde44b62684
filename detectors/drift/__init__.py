"""Drift detection: registered univariate methods and the detector that runs them."""

from __future__ import annotations

# Importing the method modules registers them.
from detectors.drift import chi_square, jensen_shannon, ks, psi, wasserstein  # noqa: F401
from detectors.drift.base import METHODS, DriftMethod, MethodScore, get_method
from detectors.drift.detector import DriftParams, choose_method, detect_drift

__all__ = ["METHODS", "DriftMethod", "DriftParams", "MethodScore", "choose_method", "detect_drift", "get_method"]
