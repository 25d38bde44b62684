"""Parameters of the quality checks (see `checks.py` for their statistical meaning)."""

from __future__ import annotations

from pydantic import Field

from detectors.params import StrictModel


class QualityParams(StrictModel):
    """Thresholds of the quality checks (see the module docstring for their meaning)."""

    max_null_increase: float = Field(
        0.05, gt=0, le=1, description="Rise in null share that alerts (absolute)."
    )
    max_out_of_range_share: float = Field(
        0.01, gt=0, le=1, description="Share of values outside the reference range that alerts."
    )
    significance: float = Field(
        0.001, gt=0, lt=1, description="Binomial-test level guarding both checks against noise."
    )
    min_rows: int = Field(
        30, ge=1, description="Fewer rows than this in the current window gives insufficient_data."
    )
    check_schema: bool = Field(True, description="Report missing and retyped columns.")
