"""Parameters of the multivariate drift detector (kept apart so configs load fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from detectors.params import StrictModel

MultivariateMethod = Literal["pca_reconstruction", "domain_classifier"]

#: Most standardised inputs (numeric columns plus one per kept category level) a PCA model
#: takes: its error expression has p(p+1)/2 terms, 2,080 at 64.
MAX_ENCODED_INPUTS = 64


class MultivariateParams(StrictModel):
    """How a window's joint distribution is compared with the reference's.

    `significance` is the false-alarm rate targeted per scan (one-sided: only a rise of the
    reconstruction error, or an AUC above one half, alerts); `min_effect` and `min_auc` are
    effect-size floors, so a huge window does not alert on a harmless but "significant"
    difference.
    """

    method: MultivariateMethod = Field(
        "pca_reconstruction", description="pca_reconstruction or domain_classifier."
    )
    variance_share: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="PCA keeps the fewest components that explain this share of the "
        "reference's variance (standardised inputs).",
    )
    significance: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description="False-alarm rate targeted per scan on data like the reference "
        "(one-sided level of the test).",
    )
    min_effect: float = Field(
        0.1,
        ge=0,
        description="PCA: the window's mean reconstruction error must also exceed the "
        "reference's by this relative amount (0.1 = 10%) to alert.",
    )
    min_auc: float = Field(
        0.55,
        gt=0.5,
        lt=1,
        description="Domain classifier: the cross-validated AUC must also reach this to alert.",
    )
    max_categories: int = Field(
        20,
        ge=1,
        le=63,
        description="Levels of a categorical column encoded one by one (the reference's "
        "most frequent); rarer, unseen and null values share one 'other' input.",
    )
    clip: float = Field(
        10.0,
        gt=0,
        description="Standardised values are clipped to +-clip, so one absurd row cannot "
        "dominate a window's mean error.",
    )
    min_rows: int = Field(
        30, ge=2, description="Fewer window rows than this gives insufficient_data."
    )
    min_reference_rows: int = Field(
        1000,
        ge=10,
        description="Fewer reference rows than this (or than twice the encoded inputs) "
        "gives insufficient_data.",
    )
    sample_size: int = Field(
        5000,
        ge=100,
        le=200_000,
        description="Domain classifier: rows drawn (seeded) from the reference and from "
        "the window, each.",
    )
    folds: int = Field(5, ge=2, le=20, description="Domain classifier: cross-validation folds.")
    seed: int = Field(0, ge=0, description="Seed of the reference split and of the samples.")
