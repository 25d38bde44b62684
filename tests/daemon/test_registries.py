"""Registries are complete: every monitor kind the config accepts can be evaluated, and
every pattern a detector can emit has a default route."""

from __future__ import annotations

import typing

from daemon.config.models import MONITOR_KINDS, MonitorConfig
from daemon.incidents.routing import DEFAULT_ROUTES
from daemon.scan.evaluators import EVALUATORS

#: Every pattern the current detectors emit (DESIGN.md, "Failure patterns").
EMITTED_PATTERNS = {
    "feature_drift",
    "label_drift",
    "prediction_drift",
    "category_emergence",
    "null_spike",
    "out_of_range",
    "schema_change",
    "corrupt_partition",
    "stale_data",
    "missing_partition",
    "volume_drop",
    "distribution_skew",
    "value_skew",
}


def test_every_monitor_kind_has_exactly_one_evaluator():
    union = typing.get_args(typing.get_args(MonitorConfig)[0])
    kinds_in_union = {typing.get_args(model.model_fields["kind"].annotation)[0] for model in union}
    assert kinds_in_union == set(MONITOR_KINDS) == set(EVALUATORS)


def test_every_emitted_pattern_has_a_default_route():
    assert set(DEFAULT_ROUTES) >= EMITTED_PATTERNS


def test_the_config_knows_exactly_the_emitted_patterns():
    from daemon.config.routing import PATTERNS

    assert set(PATTERNS) == EMITTED_PATTERNS
    assert set(DEFAULT_ROUTES) == EMITTED_PATTERNS
