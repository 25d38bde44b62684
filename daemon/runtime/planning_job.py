"""The daemon's planning job: drains the proposal queue off the scans' path.

Every `PLAN_EVERY_SECONDS` on the housekeeping pool, it claims and plans due proposal
requests (`daemon.remediation.proposal_queue`) until none is left or the daemon stops. A
scan tick never waits for it: a tick only records that an incident needs a proposal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from daemon.config.models import WardenConfig
from daemon.remediation.proposal_queue import plan_pending
from daemon.runtime.inflight import Lifecycle
from daemon.store.engine import Store

log = logging.getLogger(__name__)

#: How often the daemon looks for requests to plan (seconds): the longest a new incident's
#: proposal waits behind its scan, planning time aside.
PLAN_EVERY_SECONDS = 5


@dataclass
class PlanningJob:
    """Plans what the queue holds for `identity`, tracked in `lifecycle.inflight`."""

    store: Store
    config: WardenConfig
    identity: str
    lifecycle: Lifecycle

    def run(self) -> None:
        if self.lifecycle.stopping.is_set():
            return
        with self.lifecycle.inflight.track("proposal planning"):
            outcomes = plan_pending(
                self.store,
                self.config,
                identity=self.identity,
                keep_going=lambda: not self.lifecycle.stopping.is_set(),
            )
        for outcome in outcomes:
            log.log(
                logging.INFO if outcome.status in ("proposed", "cancelled") else logging.WARNING,
                "incident %s: %s",
                outcome.incident_id,
                outcome.message,
                extra={"incident_id": outcome.incident_id, "run_id": outcome.run_id},
            )
