"""Parameters of the drift detector (kept apart from the statistics so configs load fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.drift.correction_names import Correction
from detectors.params import StrictModel

#: The registered methods (a contract test keeps this equal to the registry).
RegisteredMethod = Literal["ks", "chi_square", "z_test", "wasserstein", "jensen_shannon", "psi"]
MethodName = Literal["auto", RegisteredMethod]


class DriftParams(StrictModel):
    """Parameters of the drift detector (all optional; defaults are documented above)."""

    method: MethodName = Field("auto", description="Method for every column, or auto.")
    column_methods: dict[str, MethodName] = Field(
        default_factory=dict, description="Per-column method overrides."
    )
    thresholds: dict[RegisteredMethod, float] = Field(
        default_factory=dict,
        description=(
            "Per-method threshold overrides: p-value level for tests, distance for the others."
        ),
    )
    correction: Correction = Field(
        "bh", description="Multiple-testing correction across columns: bh, bonferroni or none."
    )
    significance: float = Field(
        0.05,
        gt=0,
        lt=1,
        description=(
            "Level of the companion test (KS or chi-square, corrected across columns) that a "
            "distance must also pass, so chance differences in small windows do not alert."
        ),
    )
    min_effect: float = Field(
        0.05, ge=0, le=1, description="Effect-size floor for tests (KS D, total variation)."
    )
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Share of drifted columns that makes the dataset drifted."
    )
    small_sample_rows: int = Field(
        1000, ge=1, description="Reference size up to which auto picks exact tests."
    )
    min_rows: int = Field(
        30, ge=1, description="Fewer rows than this in a window gives insufficient_data."
    )
    new_category_min_share: float = Field(
        0.01, ge=0, le=1, description="Share of rows in unseen categories that alerts."
    )

    def threshold_for(self, method: str) -> float:
        from detectors.drift.registry import get_method  # the statistics load only when used

        override = self.thresholds.get(method)  # type: ignore[call-overload]
        return override if override is not None else get_method(method).default_threshold
