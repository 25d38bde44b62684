"""The domain-classifier branch of the `multivariate_drift` evaluator: draw the seeded
samples (the reference's cached in the store) and run `detectors.multivariate.classifier`."""

from __future__ import annotations

from typing import Any

from daemon.scan.evaluators import ScanContext
from daemon.scan.model_cache import cached_model, model_key
from daemon.scan.reference_cache import cache_key
from daemon.scan.windows import Window
from detectors.multivariate.classifier import classifier_test, encoded_matrix
from detectors.multivariate.encoding import Encoding
from detectors.multivariate.fitting import model_digest
from detectors.multivariate.params import MultivariateParams
from detectors.multivariate.sampling import sample_query
from detectors.profiling import ProfileOptions
from detectors.results import DetectorResult
from detectors.sources.base import DatasetSource

#: Version of the cached reference sample's shape.
SAMPLE_SCHEMA_VERSION = 1


def classify_window(
    context: ScanContext,
    reference_source: DatasetSource,
    source: DatasetSource,
    reference: Window,
    current: Window,
    encoding: Encoding,
    params: MultivariateParams,
) -> tuple[DetectorResult, bool]:
    """The classifier's verdict on `current`, and whether the reference sample was cached."""
    numeric = [item.column for item in encoding.inputs if item.kind == "numeric"]
    categorical = [
        column for column in encoding.columns if column not in numeric
    ]  # in encoding order
    levels = [
        tuple(
            str(item.level)
            for item in encoding.inputs
            if item.column == column and item.kind == "level"
        )
        for column in categorical
    ]

    def draw(dataset: DatasetSource, window: Window) -> list[list[Any]]:
        key = ("multivariate_sample", model_digest(encoding, params.seed, params.sample_size))
        result = dataset.window_query(
            key,
            lambda rows: sample_query(rows, numeric, categorical, params.seed, params.sample_size),
            window.start,
            window.end,
        )
        # NaN is no JSON value: kept as missing, which the classifier reads it as anyway.
        return [[None if _is_nan(value) else value for value in row] for row in result.rows]

    profile_key, _fingerprint = cache_key(
        reference_source, reference, list(encoding.columns), ProfileOptions()
    )
    reference_rows, cached = cached_model(
        context.store,
        model_key(
            "multivariate_sample",
            profile_key,
            params.seed,
            params.sample_size,
            numeric,
            categorical,
        ),
        reference,
        schema_version=SAMPLE_SCHEMA_VERSION,
        fit=lambda: {"rows": draw(reference_source, reference)},
        read=lambda record: [list(row) for row in record["rows"]],
        refresh=context.refresh_reference,
    )
    window_rows = draw(source, current)
    result = classifier_test(
        encoded_matrix(reference_rows, len(numeric), levels),
        encoded_matrix(window_rows, len(numeric), levels),
        [*numeric, *categorical],
        [False] * len(numeric) + [True] * len(categorical),
        params,
    )
    return result, cached


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value
