"""Config sections for what happens after a detection: routes, maintenance windows and the
incident lifecycle settings.

```yaml
incidents: {auto_resolve_after: 2}
routes:                                  # first match wins; then the defaults of DESIGN.md
  - name: fraud-quarantine
    match: {dataset: transactions, pattern: [null_spike, out_of_range]}
    playbook: quarantine
    approval: two_person
    channel: "#fraud-oncall"
  - match: {severity: info}
    playbook: null                       # notify only
maintenance:                             # detections recorded, not routed or notified
  - name: warehouse-migration
    match: {dataset: transactions}
    start: 2025-03-01T22:00:00Z
    end: 2025-03-02T06:00:00Z
```
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from daemon.config.base import ConfigModel
from detectors.params import Duration, EndInstant, Instant

#: Failure patterns the detectors emit (DESIGN.md); a contract test keeps it complete.
PATTERNS = (
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
)
PlaybookName = Literal["quarantine", "relabel_batch", "synthetic_backfill"]
ApprovalPolicy = Literal["auto", "human", "two_person"]
SeverityName = Literal["info", "warning", "critical"]


def _as_list(value: Any) -> Any:
    """A matcher field takes one value or a list of values."""
    return [value] if isinstance(value, str) else value


class Matcher(ConfigModel):
    """Which detections a route or a maintenance window applies to. Every field given must
    match (one value, or any of a list); a field left out matches anything."""

    monitor: list[str] | None = Field(None, description="Monitor name(s).")
    dataset: list[str] | None = Field(None, description="Dataset name(s).")
    pattern: list[str] | None = Field(None, description="Failure pattern(s), like null_spike.")

    @field_validator("monitor", "dataset", "pattern", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("pattern")
    @classmethod
    def _known_patterns(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(PATTERNS))
        if unknown:
            raise ValueError(
                f"unknown pattern(s) {', '.join(unknown)}; patterns are: {', '.join(PATTERNS)}"
            )
        return value


class RouteMatch(Matcher):
    severity: list[SeverityName] | None = Field(None, description="Incident severity(ies).")
    column: list[str] | None = Field(
        None, description="Column(s): matches when any affected column is one of them."
    )

    @field_validator("severity", "column", mode="before")
    @classmethod
    def _one_or_many_more(cls, value: Any) -> Any:
        return _as_list(value)


class RouteConfig(ConfigModel):
    """Where incidents that match go: a playbook with its params and approval policy (or
    notify only, with `playbook: null`), and the channel to tell."""

    name: str | None = Field(None, description="A name for the audit trail (default route-N).")
    match: RouteMatch = Field(default_factory=RouteMatch, description="Default: everything.")
    playbook: PlaybookName | None = Field(
        description="quarantine | relabel_batch | synthetic_backfill, or null to notify only."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The playbook's params.")
    approval: ApprovalPolicy = Field(
        "human", description="auto | human | two_person (who must approve before it runs)."
    )
    channel: str | None = Field(None, description="Where to notify (default: slack.channel).")

    @model_validator(mode="after")
    def _consistent(self) -> RouteConfig:
        if self.playbook is None and self.params:
            raise ValueError("`params` needs a `playbook` (a notify-only route takes none)")
        return self


class MaintenanceWindow(ConfigModel):
    """A planned silence: matching detections in [start, end) are recorded in incidents and
    the audit trail, but not routed or notified."""

    name: str = Field(description="Shown in incidents it covers and in the audit trail.")
    match: Matcher = Field(default_factory=Matcher, description="Default: everything.")
    start: Instant
    end: EndInstant
    reason: str = Field("", description="Why, for the people who read the incidents later.")

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError("`end` must be after `start`")
        return self


class IncidentsConfig(ConfigModel):
    auto_resolve_after: int = Field(
        2, ge=1, description="Consecutive clean scans after which an incident resolves itself."
    )


class PlaybooksConfig(ConfigModel):
    work_root: str = Field(
        "warden-work",
        description="Warden's own folder for quarantined files, label batches and synthetic "
        "partitions (relative to the config file); keep it outside every dataset's folder.",
    )
    approval_ttl: Duration = Field(
        default_factory=lambda: timedelta(hours=24),
        description="A proposal not decided within this long expires (default 24h).",
    )
