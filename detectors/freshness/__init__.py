"""Freshness: `params.py` (light) and `detector.py` (stale data, missing partitions)."""
