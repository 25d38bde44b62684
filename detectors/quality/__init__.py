"""Quality and schema checks: `params.py` (light) and `checks.py` (detect_quality)."""
