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
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.config.base import ConfigModel, unknown_name_message
from detectors.params import Duration, EndInstant, Instant, Wait

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
    "corrupt_asset",
    "unreadable_asset",
    "duplicate_asset",
    "near_duplicate_asset",
    "split_leakage",
    "missing_asset",
    "unlisted_asset",
    "asset_property_drift",
    "multivariate_drift",
    "metric_anomaly",
)
PlaybookName = Literal["quarantine", "relabel_batch", "synthetic_backfill", "restore_version"]
ApprovalPolicy = Literal["auto", "human", "two_person"]
SeverityName = Literal["info", "warning", "critical"]


def _as_list(value: Any) -> Any:
    """A matcher field takes one value or a list of values."""
    return [value] if isinstance(value, str) else value


def _known_pattern(name: str) -> str:
    if name not in PATTERNS:
        raise ValueError(unknown_name_message("pattern", name, PATTERNS, known_label="patterns"))
    return name


#: Checked one entry at a time, so each unknown pattern is reported at its own place.
PatternName = Annotated[str, AfterValidator(_known_pattern)]


class Matcher(ConfigModel):
    """Which detections a route or a maintenance window applies to. Every field given must
    match (one value, or any of a list); a field left out matches anything."""

    monitor: list[str] | None = Field(None, description="Monitor name(s).")
    dataset: list[str] | None = Field(None, description="Dataset name(s).")
    pattern: list[PatternName] | None = Field(
        None, description="Failure pattern(s), like null_spike."
    )

    @field_validator("monitor", "dataset", "pattern", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)


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

    name: str | None = Field(
        None,
        description="A unique name for incidents and the audit trail (default: its place, "
        "like routes[0]).",
    )
    match: RouteMatch = Field(default_factory=RouteMatch, description="Default: everything.")
    playbook: PlaybookName | None = Field(
        description="quarantine | relabel_batch | synthetic_backfill | restore_version (Delta "
        "and Iceberg tables), or null to notify only."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The playbook's params.")
    approval: ApprovalPolicy = Field(
        "human", description="auto | human | two_person (who must approve before it runs)."
    )
    channel: str | None = Field(None, description="Where to notify (default: slack.channel).")

    @model_validator(mode="before")
    @classmethod
    def _params_need_a_playbook(cls, data: Any) -> Any:
        # Said here because "`playbook` is missing" alone does not tell why params matter.
        if isinstance(data, dict) and data.get("params") and "playbook" not in data:
            choices = ", ".join(get_args(PlaybookName))
            raise ValueError(
                f"`params` needs a `playbook`, and this route has none: add `playbook:` with "
                f"one of {choices}, or remove `params` to notify only"
            )
        return data

    @field_validator("params")
    @classmethod
    def _params_fit_the_playbook(cls, params: dict[str, Any], info: ValidationInfo) -> Any:
        """A route's params must be valid for its playbook, checked when the config loads."""
        playbook = info.data.get("playbook")  # absent when the playbook itself is invalid
        if playbook is None:
            return params
        # Imported here: the playbooks load pandas, needed only when a route names one.
        from playbooks.registry import PLAYBOOKS, get_playbook

        try:
            get_playbook(playbook)
        except KeyError:
            return params  # not built yet: nothing to check them against
        try:
            PLAYBOOKS[playbook].parse_params(params)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or '(params)'}: {item['msg']}"
                for item in error.errors()
            )
            raise ValueError(f"not valid for {playbook}: {problems}") from None
        return params

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


#: The longest `incidents.group_window`: a group is one problem's incidents, not a day's.
MAX_GROUP_WINDOW = timedelta(days=1)


class IncidentsConfig(ConfigModel):
    auto_resolve_after: int = Field(
        2, ge=1, description="Consecutive clean scans after which an incident resolves itself."
    )
    group_window: Wait = Field(
        default_factory=lambda: timedelta(0),
        description="Incidents of one dataset routed to one channel share a group (one Slack "
        "message, one page) when they open in the same scan time or within this long of the "
        "group's first (default 0s: the same scan time only; at most 1d).",
    )

    @field_validator("group_window")
    @classmethod
    def _bounded_window(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= MAX_GROUP_WINDOW:
            raise ValueError("must be between 0s and 1d")
        return value


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
    run_timeout: Duration = Field(
        default_factory=lambda: timedelta(minutes=30),
        description="An approved run still going after this long is stopped, rolled back "
        "and escalated to a person (default 30m).",
    )
    stale_run_after: Duration = Field(
        default_factory=lambda: timedelta(minutes=2),
        description="A running run whose worker has not reported for this long (it crashed "
        "or was killed) is taken over and finished by the next worker (default 2m; steps "
        "are idempotent, so finishing is safe).",
    )

    @field_validator("run_timeout", "stale_run_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value
