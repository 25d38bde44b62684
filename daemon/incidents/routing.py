"""Which playbook answers an incident: the config's routes first, then the defaults.

`route()` is a pure function of the incident's facts and the routes: the same incident and
config always give the same decision, which is stored on the incident and in the audit trail
when it opens. Routes from the config are tried in order and the first whose matcher fits
wins; then the defaults of DESIGN.md by pattern; a pattern with neither goes to the agent when
it is enabled, else to a notification only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from daemon.config.routing import ApprovalPolicy, RouteConfig, RouteMatch


@dataclass(frozen=True)
class Route:
    """A default route: the playbook for a pattern and its approval policy."""

    playbook: str | None
    approval: ApprovalPolicy
    notify: bool = True
    note: str = ""
    #: The playbook's params when the default route picks it.
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.playbook is None:
            return "notify only" + (f" ({self.note})" if self.note else "")
        text = f"{self.playbook} ({self.approval} approval)"
        return text + (f", {self.note}" if self.note else "")


DEFAULT_ROUTES: dict[str, Route] = {
    "feature_drift": Route("relabel_batch", "human"),
    "prediction_drift": Route("relabel_batch", "human"),
    "label_drift": Route("relabel_batch", "human"),
    "category_emergence": Route("relabel_batch", "human"),
    "null_spike": Route("quarantine", "human"),
    "out_of_range": Route("quarantine", "human"),
    "corrupt_partition": Route("quarantine", "human"),
    "schema_change": Route("quarantine", "human", note="page the dataset owner"),
    "missing_partition": Route("synthetic_backfill", "human"),
    "volume_drop": Route("synthetic_backfill", "human"),
    "stale_data": Route(None, "human", note="nothing to repair until data arrives"),
    "value_skew": Route("quarantine", "human", note="quarantine the skewed serving partitions"),
    "distribution_skew": Route(
        "quarantine", "human", note="quarantine the skewed serving partitions"
    ),
    "corrupt_asset": Route("quarantine", "human", note="move the broken files out"),
    "duplicate_asset": Route("quarantine", "human", note="move the later copies out"),
    # A near copy may be a legitimate second shot: a person looks before anything moves.
    "near_duplicate_asset": Route(None, "human", note="review the pairs"),
    "unreadable_asset": Route(None, "human", note="fix the file's permissions, size or link"),
    "split_leakage": Route("quarantine", "human", note="move the later copy out"),
    "missing_asset": Route(None, "human", note="restore the files or drop their rows"),
    "unlisted_asset": Route(None, "human", note="list the files or move them out"),
    "asset_property_drift": Route("relabel_batch", "human"),
    # The relation between columns changed, no single column did: drift_density (which
    # scores rows by the drifted columns) has nothing to score, so the batch is stratified.
    "multivariate_drift": Route(
        "relabel_batch",
        "human",
        note="a stratified batch: the relation between columns changed",
        params={"strategy": "stratified"},
    ),
    # A metric that left its own seasonal band: a person reads its chart first.
    "metric_anomaly": Route(None, "human", note="read the metric's chart in the report"),
}

NO_ROUTE = Route(None, "human", note="no rule matched; the agent proposes when enabled")


def default_route(pattern: str) -> Route:
    return DEFAULT_ROUTES.get(pattern, NO_ROUTE)


@dataclass(frozen=True)
class IncidentFacts:
    """What a route can match on."""

    monitor: str
    dataset: str
    pattern: str
    severity: str
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    """What to propose for an incident and how it must be approved.

    `rule` names what decided: `routes[0]` (or the route's name), `default`, or `none` (no
    route and no default: the agent's turn when enabled, else notify only).
    """

    rule: str
    playbook: str | None
    approval: ApprovalPolicy
    params: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouteDecision:
        return cls(**data)

    def describe(self) -> str:
        if self.playbook is None:
            text = "notify only"
        else:
            text = f"{self.playbook} ({self.approval} approval)"
        source = {"default": "default route", "none": "no route matched"}.get(
            self.rule, f"route {self.rule}"
        )
        details = [part for part in (self.note, source) if part]
        return text + (f" [{'; '.join(details)}]" if details else "")


def route(
    facts: IncidentFacts, routes: Sequence[RouteConfig], default_channel: str | None = None
) -> RouteDecision:
    """The first configured route that matches `facts`, else the default for its pattern."""
    for index, candidate in enumerate(routes):
        if matches(candidate.match, facts):
            return RouteDecision(
                rule=candidate.name or f"routes[{index}]",
                playbook=candidate.playbook,
                approval=candidate.approval,
                params=dict(candidate.params),
                channel=candidate.channel or default_channel,
            )
    fallback = DEFAULT_ROUTES.get(facts.pattern)
    if fallback is None:
        return RouteDecision("none", None, NO_ROUTE.approval, {}, default_channel, NO_ROUTE.note)
    return RouteDecision(
        "default",
        fallback.playbook,
        fallback.approval,
        dict(fallback.params),
        default_channel,
        fallback.note,
    )


def matches(match: RouteMatch, facts: IncidentFacts) -> bool:
    """Whether every field `match` gives fits `facts` (routes, escalation policies)."""
    for field_name in ("monitor", "dataset", "pattern", "severity"):
        allowed = getattr(match, field_name)
        if allowed is not None and getattr(facts, field_name) not in allowed:
            return False
    return match.column is None or any(column in match.column for column in facts.columns)
