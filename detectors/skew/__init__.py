"""Training-serving skew: `params.py` (light), `distribution.py`, `values.py` (in the engine),
`detector.py` (the verdict)."""
