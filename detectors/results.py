"""What every detector returns: a status and a list of findings.

The shape is the `warden scan --json` contract of DESIGN.md: a finding names the failure
`pattern`, the `column` (or None for dataset-level findings), the `method`, the `statistic`
and the `threshold` it was compared against, the `p_value` where the method has one, and
whether it `alert`s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    ok = "ok"
    alert = "alert"
    error = "error"
    insufficient_data = "insufficient_data"


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _copied(value: Any) -> Any:
    """A copy of JSON-like `value`: dicts, lists and tuples copied at every depth, as
    `dataclasses.asdict` copies them, several times faster (it deep-copies every leaf)."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_copied(item) for item in value)
    return value


@dataclass(frozen=True)
class Finding:
    """One check of one column (or of the dataset) against one threshold.

    `statistic` and `threshold` are in the method's own units (documented by each method);
    `alert` is True when the statistic crossed the threshold after any multiple-testing
    correction and effect-size floor. `details` carries evidence (histograms, counts,
    sample ids) for incidents and reports.
    """

    pattern: str
    column: str | None
    method: str
    statistic: float | None
    threshold: float | None
    alert: bool
    p_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "column": self.column,
            "method": self.method,
            "statistic": _finite_or_none(self.statistic),
            "threshold": _finite_or_none(self.threshold),
            "alert": self.alert,
            "p_value": _finite_or_none(self.p_value),
            "details": _copied(self.details),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)


@dataclass(frozen=True)
class DetectorResult:
    """The verdict of one detector run: `status` plus its findings and a short summary."""

    status: Status
    findings: tuple[Finding, ...] = ()
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def alerts(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.alert)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "message": self.message,
            "summary": self.summary,
            "findings": [finding.to_dict() for finding in self.findings],
        }

    @classmethod
    def from_findings(
        cls, findings: list[Finding], *, message: str = "", summary: dict[str, Any] | None = None
    ) -> DetectorResult:
        """`alert` when any finding alerts, else `ok`."""
        status = Status.alert if any(f.alert for f in findings) else Status.ok
        return cls(status=status, findings=tuple(findings), message=message, summary=summary or {})

    @classmethod
    def insufficient(cls, message: str, summary: dict[str, Any] | None = None) -> DetectorResult:
        return cls(status=Status.insufficient_data, message=message, summary=summary or {})

    @classmethod
    def failed(cls, message: str) -> DetectorResult:
        return cls(status=Status.error, message=message)
