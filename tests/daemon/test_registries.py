"""Registries are complete: every monitor kind the config accepts can be evaluated, and
every pattern a detector can emit has a default route."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

from daemon.config.models import MONITOR_KINDS, MonitorConfig
from daemon.incidents.routing import DEFAULT_ROUTES
from daemon.scan.evaluators import EVALUATORS


def _emitted_patterns() -> set[str]:
    """Every pattern the detectors can emit, read from their source: the pattern of each
    `Finding(...)` they build (its first argument or `pattern=`), a string literal or a
    call to a function whose every return is one (`pattern_for`). A pattern computed any
    other way fails here, so that no pattern escapes this list."""
    trees = {path: ast.parse(path.read_text()) for path in DETECTORS.rglob("*.py")}
    returns: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                found = {r.value for r in ast.walk(node) if isinstance(r, ast.Return)}
                if found and all(_literal(v) for v in found):
                    returns[node.name] = {v.value for v in found}  # type: ignore[union-attr]
    patterns: set[str] = set()
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Finding"):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            value = node.args[0] if node.args else keywords.get("pattern")
            if _literal(value):
                patterns.add(value.value)  # type: ignore[union-attr]
            elif isinstance(value, ast.Call) and getattr(value.func, "id", None) in returns:
                patterns |= returns[value.func.id]  # type: ignore[union-attr]
            else:
                raise AssertionError(f"{path}:{node.lineno}: a Finding's pattern is not a literal")
    return patterns


def _literal(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


DETECTORS = Path(__file__).resolve().parents[2] / "detectors"
EMITTED_PATTERNS = _emitted_patterns()


def test_the_detectors_emit_the_patterns_the_design_names():
    # A sanity check of the reading above, against DESIGN.md's "Failure patterns".
    assert {"feature_drift", "label_drift", "null_spike", "stale_data"} <= EMITTED_PATTERNS
    assert len(EMITTED_PATTERNS) >= 13


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
