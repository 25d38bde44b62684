"""Drift detection: registered univariate methods and the detector that runs them.

Import what you need from the modules: `detectors.drift.detector` (detect_drift),
`detectors.drift.params` (DriftParams, light: no statistics), `detectors.drift.registry`
(METHODS). The package itself imports nothing, so loading a config stays fast.
"""
