"""The `multivariate_drift` evaluator: fit (once, cached) and test a window's joint
distribution against the reference's (`detectors.multivariate`).

PCA: the model is fitted and calibrated on the reference in the engine and cached in the
store; a scan runs one aggregate over its window, and one more, for the per-column
residuals, only when it alerts. Domain classifier: seeded bounded samples of both sides
(the reference's cached) are told apart by a small classifier.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from daemon.config.models import MultivariateDriftMonitor
from daemon.scan.evaluators import Evaluation, ScanContext, evaluator, open_reference
from daemon.scan.model_cache import cached_model, model_key
from daemon.scan.reference_cache import cache_key
from daemon.scan.windows import Window
from detectors.multivariate.encoding import Encoding, EncodingError, encode_columns
from detectors.multivariate.params import MAX_ENCODED_INPUTS, MultivariateParams
from detectors.profile import WindowProfile
from detectors.results import DetectorResult
from detectors.sources.base import DatasetSource

if TYPE_CHECKING:
    from detectors.multivariate.pca import PcaModel


@evaluator("multivariate_drift")
def evaluate_multivariate(context: ScanContext) -> Evaluation:
    monitor = context.monitor
    assert isinstance(monitor, MultivariateDriftMonitor)
    params = MultivariateParams.model_validate(
        monitor.model_dump(include=set(MultivariateParams.model_fields))
    )
    side = open_reference(context, monitor)
    source, reference_source = side.source, side.reference_source
    reference, current, columns = side.reference, side.current, side.columns
    profile, profile_cached, options = side.profile, side.cached, side.options
    windows = {"reference": reference.to_dict(), "current": current.to_dict()}
    encoding = _encoding(profile, columns, params)
    if isinstance(encoding, DetectorResult):
        return Evaluation(encoding, windows, profile_cached)
    if params.method == "domain_classifier":
        from daemon.scan.classifier_evaluation import classify_window

        result, cached = classify_window(
            context, reference_source, source, reference, current, encoding, params
        )
        return Evaluation(result, windows, profile_cached and cached)
    profile_key, _fingerprint = cache_key(reference_source, reference, columns, options)
    result, model_cached = _pca_verdict(
        context, reference_source, source, reference, current, encoding, params, profile_key
    )
    return Evaluation(result, windows, profile_cached and model_cached)


def _encoding(
    profile: WindowProfile, columns: list[str], params: MultivariateParams
) -> Encoding | DetectorResult:
    """The columns' encoding, or the result that says why there is none: a constant or
    all-null column, too many inputs (an error), too few reference rows (insufficient)."""
    try:
        encoding = encode_columns(
            {name: profile.columns[name] for name in columns},
            max_categories=params.max_categories,
        )
    except EncodingError as error:
        return DetectorResult.failed(str(error))
    inputs = len(encoding.inputs)
    if inputs > MAX_ENCODED_INPUTS:
        return DetectorResult.failed(
            f"the columns encode to {inputs} inputs (numeric columns plus one per kept "
            f"category level); at most {MAX_ENCODED_INPUTS}: lower max_categories or "
            "watch fewer columns"
        )
    needed = max(params.min_reference_rows, 2 * inputs)
    if profile.rows < needed:
        return DetectorResult.insufficient(
            f"the reference has {profile.rows} rows; the multivariate model needs {needed}",
            {"reference_rows": profile.rows},
        )
    return encoding


def _pca_verdict(
    context: ScanContext,
    reference_source: DatasetSource,
    source: DatasetSource,
    reference: Window,
    current: Window,
    encoding: Encoding,
    params: MultivariateParams,
    profile_key: str,
) -> tuple[DetectorResult, bool]:
    """The PCA test of the current window, and whether the model came from the store."""
    # Imported here: numpy and the model's queries load only for monitors of this kind.
    from detectors.multivariate.fitting import NotEnoughRows, window_error
    from detectors.multivariate.pca_detector import detect_pca

    try:
        model, model_cached = _pca_model(
            context, reference_source, reference, encoding, params, profile_key
        )
    except NotEnoughRows as error:
        return DetectorResult.insufficient(str(error)), True
    moments = window_error(source, current.start, current.end, model, params.clip)
    result = detect_pca(model, moments, params)
    if result.alerts:
        # Which columns' residuals grew: a second pass, paid only when the window alerts.
        moments = window_error(
            source, current.start, current.end, model, params.clip, residuals=True
        )
        result = detect_pca(model, moments, params)
    return replace(result, summary={**result.summary, "model_cached": model_cached}), model_cached


def _pca_model(
    context: ScanContext,
    source: DatasetSource,
    reference: Window,
    encoding: Encoding,
    params: MultivariateParams,
    profile_key: str,
) -> tuple[PcaModel, bool]:
    from detectors.multivariate.fitting import fit_pca
    from detectors.multivariate.pca import MODEL_SCHEMA_VERSION, PcaModel

    settings: dict[str, Any] = {
        "variance_share": params.variance_share,
        "clip": params.clip,
        "seed": params.seed,
        "encoding": encoding.to_dict(),
    }

    def fit() -> dict[str, Any]:
        return fit_pca(
            source,
            reference.start,
            reference.end,
            encoding,
            variance_share=params.variance_share,
            clip=params.clip,
            seed=params.seed,
            min_rows=params.min_reference_rows,
        ).to_dict()

    model, cached = cached_model(
        context.store,
        model_key("multivariate_pca", profile_key, settings),
        reference,
        schema_version=MODEL_SCHEMA_VERSION,
        fit=fit,
        read=PcaModel.from_dict,
        refresh=context.refresh_reference,
    )
    return model, cached
