"""Property drift findings of asset files: the drift detector's findings about the files'
properties (`daemon.scan.asset_properties` compares them), reported as
`asset_property_drift`, each naming the property as its column."""

from __future__ import annotations

from collections.abc import Iterable

from detectors.results import Finding


def property_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The same findings as `asset_property_drift` (a new value of a property, such as a
    resolution the reference never had, included)."""
    return [
        Finding(
            "asset_property_drift",
            finding.column,
            finding.method,
            finding.statistic,
            finding.threshold,
            finding.alert,
            finding.p_value,
            finding.details,
        )
        for finding in findings
    ]
