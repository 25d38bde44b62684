"""The domain classifier test: can a classifier tell the window's rows from the
reference's?

Seeded bounded samples of both sides (`sampling`) are labelled 0 (reference) and 1
(window); a gradient-boosting classifier (scikit-learn's `HistGradientBoostingClassifier`,
categorical columns as native categories, nulls as missing) is cross-validated over
`folds` stratified folds, and the statistic is the mean of the folds' ROC AUCs.

Threshold. Under "nothing changed" each fold's AUC is an exact Mann-Whitney statistic of a
test fold the model never saw, with mean 1/2 and standard deviation
``sqrt((n1 + n2 + 1) / (12 n1 n2))`` for fold test sizes n1, n2. The folds share training
rows, so their mean varies more than ``sd / sqrt(folds)``; the threshold uses the single
fold's deviation (what the mean's would be if the folds agreed perfectly), which is
conservative: ``0.5 + z(1 - significance) * sd``, 0.530 at 5,000 + 5,000 rows and 1%
(`docs/design/detection-depth.md`: the largest of 48 null runs was 0.517). The AUC must
also reach `min_auc`, so a huge sample does not alert on a harmless learnable difference.

The top features are the columns whose permutation lowers the last fold's AUC most
(`sklearn.inspection.permutation_importance`). The fit is held to one thread: OpenMP's
default of one per core made a 0.8 s fit take 42 s on a busy two-core machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.multivariate.params import MultivariateParams
from detectors.results import DetectorResult, Finding

METHOD = "domain_classifier"
#: Fewest rows per side the classifier is trained on.
MIN_ROWS_PER_SIDE = 50
TOP_FEATURES = 3


def auc_threshold(
    reference_rows: int, window_rows: int, folds: int, significance: float
) -> tuple[float, float]:
    """(threshold, standard deviation) of a fold's AUC under the null, for samples of
    `reference_rows` and `window_rows` split in `folds`.

    >>> [round(value, 4) for value in auc_threshold(5000, 5000, 5, 0.01)]
    [0.53, 0.0129]
    """
    from scipy.special import ndtri

    first, second = reference_rows // folds, window_rows // folds
    sd = math.sqrt((first + second + 1) / (12 * first * second))
    return 0.5 + float(ndtri(1 - significance)) * sd, sd


def encoded_matrix(
    rows: Sequence[Sequence[Any]], numeric: int, levels: Sequence[Sequence[str]]
) -> np.ndarray:
    """The classifier's matrix: numeric columns as floats (None as NaN), then each
    categorical column as the index of its value among its kept `levels` (anything else:
    one code past them; null: NaN)."""
    matrix = np.full((len(rows), numeric + len(levels)), np.nan)
    lookups = [{level: code for code, level in enumerate(kept)} for kept in levels]
    for index, row in enumerate(rows):
        for j in range(numeric):
            value = row[j]
            if value is not None:
                matrix[index, j] = float(value)
        for offset, lookup in enumerate(lookups):
            value = row[numeric + offset]
            if value is not None:
                matrix[index, numeric + offset] = lookup.get(str(value), len(lookup))
    return matrix


def classifier_test(
    reference: np.ndarray,
    window: np.ndarray,
    names: Sequence[str],
    categorical: Sequence[bool],
    params: MultivariateParams,
) -> DetectorResult:
    """The test of `window` rows against `reference` rows (matrices from `encoded_matrix`)."""
    if len(reference) < MIN_ROWS_PER_SIDE or len(window) < max(MIN_ROWS_PER_SIDE, params.min_rows):
        return DetectorResult.insufficient(
            f"the classifier needs {max(MIN_ROWS_PER_SIDE, params.min_rows)} rows on each "
            f"side; it has {len(reference)} reference and {len(window)} window rows",
            {"reference_rows": len(reference), "window_rows": len(window)},
        )
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.inspection import permutation_importance
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold
        from threadpoolctl import threadpool_limits
    except ImportError:
        return DetectorResult.failed(
            "the domain classifier needs scikit-learn: pip install 'warden[multivariate]'"
        )
    features = np.vstack([reference, window])
    labels = np.concatenate([np.zeros(len(reference)), np.ones(len(window))])
    folds = StratifiedKFold(params.folds, shuffle=True, random_state=params.seed)
    aucs: list[float] = []
    model: Any = None
    test_rows: Any = None
    with threadpool_limits(1):
        for train, test in folds.split(features, labels):
            model = HistGradientBoostingClassifier(
                max_iter=100,
                categorical_features=np.array(categorical, dtype=bool),
                random_state=params.seed,
            )
            model.fit(features[train], labels[train])
            scores = model.predict_proba(features[test])[:, 1]
            aucs.append(float(roc_auc_score(labels[test], scores)))
            test_rows = test
        statistic = float(np.mean(aucs))
        threshold, sd = auc_threshold(
            len(reference), len(window), params.folds, params.significance
        )
        alert = statistic > threshold and statistic >= params.min_auc
        top: list[dict[str, Any]] = []
        if alert:
            importance = permutation_importance(
                model,
                features[test_rows],
                labels[test_rows],
                scoring="roc_auc",
                n_repeats=5,
                random_state=params.seed,
            )
            ranked = np.argsort(-importance.importances_mean)
            top = [
                {"column": names[j], "auc_drop": float(importance.importances_mean[j])}
                for j in ranked[:TOP_FEATURES]
                if importance.importances_mean[j] > 0
            ]
    from scipy.special import ndtr

    p_value = float(1.0 - ndtr((statistic - 0.5) / sd))
    finding = Finding(
        "multivariate_drift",
        None,
        METHOD,
        statistic,
        threshold,
        alert,
        p_value=p_value,
        details={
            "threshold_basis": (
                f"null AUC of one fold of {len(reference) // params.folds} + "
                f"{len(window) // params.folds} rows (sd {sd:.4f}), one-sided level "
                f"{params.significance:g}; the AUC must also reach {params.min_auc:g}"
            ),
            "fold_aucs": aucs,
            "n_reference": len(reference),
            "n_window": len(window),
            "min_auc": params.min_auc,
            "significance": params.significance,
            "columns": list(names),
            "top_features": top,
        },
    )
    verdict = "above" if alert else "within"
    return DetectorResult.from_findings(
        [finding],
        message=f"cross-validated AUC {statistic:.3f} is {verdict} the threshold {threshold:.3f}",
    )
