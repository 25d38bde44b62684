"""What the on-call tests share: a scan's findings observed as `warden scan` would, and the
outbox's PagerDuty rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.incidents.incidents import IncidentPolicy, ObserveOutcome, observe
from daemon.store.engine import Store
from daemon.store.models import OutboxMessage
from detectors.results import DetectorResult, Finding


def scan(
    store: Store,
    config: WardenConfig,
    findings: Sequence[Finding],
    at: datetime,
    *,
    monitor: str = "quality",
    dataset: str = "loans",
) -> ObserveOutcome:
    """Observe `findings` of `monitor` on `dataset` at scan time `at` (critical)."""
    with store.session() as session:
        return observe(
            session,
            monitor=monitor,
            dataset=dataset,
            severity="critical",
            result=DetectorResult.from_findings(list(findings)),
            windows={},
            at=at,
            policy=IncidentPolicy.from_config(config),
        )


def page_rows(store: Store) -> list[OutboxMessage]:
    """The outbox's PagerDuty events, oldest first."""
    with store.session(readonly=True) as session:
        return list(
            session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.transport == "pagerduty")
                .order_by(col(OutboxMessage.id))
            ).all()
        )
