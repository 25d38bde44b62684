"""Parameters of the skew detector (see `detector.py` for what each threshold means)."""

from __future__ import annotations

from pydantic import Field

from detectors.params import Duration, StrictModel


class SkewParams(StrictModel):
    """Thresholds for distribution skew and value skew between offline and serving data."""

    max_linf: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Categorical: largest allowed difference of one category's share.",
    )
    max_js: float = Field(
        0.1, gt=0, le=1, description="Numeric: largest allowed Jensen-Shannon distance over bins."
    )
    significance: float = Field(
        0.05, gt=0, lt=1, description="Level of the corrected tests that gate distribution skew."
    )
    max_mismatch_rate: float = Field(
        0.01, ge=0, lt=1, description="Share of joined rows whose values differ that alerts."
    )
    absolute_tolerance: float = Field(
        1e-9, ge=0, description="Numeric values within this absolute difference are equal."
    )
    relative_tolerance: float = Field(
        1e-6, ge=0, description="...or within this share of the offline value."
    )
    join_tolerance: Duration | None = Field(
        None, description="As-of join: the offline row may be at most this old (default any)."
    )
    sample_size: int = Field(
        10, ge=0, le=1000, description="Mismatching entity ids kept as evidence."
    )
    min_rows: int = Field(
        30, ge=1, description="Fewer joined rows than this gives insufficient_data."
    )
