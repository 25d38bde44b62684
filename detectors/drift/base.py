"""The interface every drift method implements, and the registry of methods.

A method scores one column: `score(reference, current)` returns the statistic, a p-value when
the method is a hypothesis test, and an effect size in [0, 1] used for the effect-size floor.
Thresholds, multiple-testing correction and the result shape live in `detector.py`, once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from detectors.profile import ColumnKind, ColumnProfile


class MethodNotApplicable(ValueError):
    """The method cannot score this column (wrong kind, or the profile lacks what it needs)."""


@dataclass(frozen=True)
class MethodScore:
    """`statistic` in the method's units; `p_value` for tests (else None); `effect` in [0, 1]."""

    statistic: float
    p_value: float | None
    effect: float


class DriftMethod(ABC):
    """A univariate drift statistic.

    Class attributes: `name` (stable registry key), `kinds` it applies to, `is_test` (alerts
    on a p-value below the threshold) or a distance (alerts on statistic >= threshold),
    `default_threshold` in the method's units.
    """

    name: ClassVar[str]
    kinds: ClassVar[tuple[ColumnKind, ...]]
    is_test: ClassVar[bool]
    default_threshold: ClassVar[float]

    @abstractmethod
    def score(self, reference: ColumnProfile, current: ColumnProfile) -> MethodScore:
        """Compare one column's reference and current profiles."""

    def check_kind(self, column: ColumnProfile) -> None:
        if column.kind not in self.kinds:
            raise MethodNotApplicable(
                f"{self.name} applies to {' or '.join(self.kinds)} columns; "
                f"{column.name!r} is {column.kind}"
            )


METHODS: dict[str, DriftMethod] = {}


def register(method_class: type[DriftMethod]) -> type[DriftMethod]:
    """Class decorator: add a method to the registry under its `name` (once)."""
    if method_class.name in METHODS:
        raise ValueError(f"drift method {method_class.name!r} is registered twice")
    METHODS[method_class.name] = method_class()
    return method_class


def get_method(name: str) -> DriftMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown drift method {name!r}; known: {', '.join(sorted(METHODS))}"
        ) from None


def missing(what: str, column: str) -> MethodNotApplicable:
    """The profile of `column` lacks `what` (for example raw values on a large window)."""
    return MethodNotApplicable(f"the profile of {column!r} has no {what}")
