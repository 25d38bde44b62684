"""Which playbook answers which failure pattern (the defaults of DESIGN.md).

Routes from the config (matching monitor, dataset, pattern, severity, column) come first when
configured; these defaults apply when none matches. A pattern with no default goes to the
agent when it is enabled, else to a notification only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ApprovalPolicy = Literal["auto", "human", "two_person"]


@dataclass(frozen=True)
class Route:
    playbook: str | None
    approval: ApprovalPolicy
    notify: bool = True
    note: str = ""

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
}

NO_ROUTE = Route(None, "human", note="no rule matched; the agent proposes when enabled")


def default_route(pattern: str) -> Route:
    return DEFAULT_ROUTES.get(pattern, NO_ROUTE)
