"""How long one pass of the escalation job takes over many open incident groups.

The daemon's `escalate` job runs every 15 s; each pass looks at every open group that has
a policy, in a transaction of its own (lock, bring its state in line with its members,
fire what is due). This fills a fresh store with N open groups of three incidents each
(observed as scans would), then times, as whole passes:

- the first pass, which fires step 0 (a page) of every group: N firings, N audit events,
  N PagerDuty rows in the outbox;
- a quiet pass a minute later, when nothing is due (what the job does most of the time);
- the pass that fires step 1 (a Slack notify) of every group after 15 minutes.

    python bench/escalation_pass.py --groups 1000        # SQLite, and PostgreSQL when
                                                         # WARDEN_TEST_POSTGRES_URL is set
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import timedelta

from store_queries import fresh_store  # bench/, beside this file

from daemon.config.models import WardenConfig
from daemon.incidents.escalation_runner import fire_due
from daemon.incidents.incidents import IncidentPolicy, observe
from daemon.paging.page_writer import install_page_writer
from daemon.slack.outbox_writer import install_outbox_writer
from daemon.store.engine import Store
from daemon.store.types import utcnow
from detectors.results import DetectorResult, Finding

CONFIG = WardenConfig.model_validate(
    {
        "slack": {"bot_token": "xoxb-bench", "channel": "C0ONCALL1"},
        "pagerduty": {"routing_key": "R0UT1NGKEY0123456789ABCDEFGHIJKL"},
        "escalations": [
            {
                "name": "default",
                "steps": [
                    {"after": "0m", "page": "pagerduty"},
                    {"after": "15m", "notify": "C0LEADS01", "mention": "S0614TZR7"},
                ],
            }
        ],
    }
)
FINDINGS = [
    Finding("null_spike", "salary", "null_rate", 0.4, 0.05, True),
    Finding("feature_drift", "region", "jensen_shannon", 0.3, 0.1, True),
    Finding("out_of_range", "age", "max", 300, 120, True),
]


def fill(store: Store, groups: int) -> None:
    """`groups` datasets, each with one scan opening three incidents (one group each)."""
    policy = IncidentPolicy.from_config(CONFIG)
    at = utcnow()
    for index in range(groups):
        with store.session() as session:
            observe(
                session,
                monitor=f"quality-{index}",
                dataset=f"table_{index}",
                severity="critical",
                result=DetectorResult.from_findings(FINDINGS),
                windows={},
                at=at,
                policy=policy,
            )


def timed_pass(store: Store, now) -> tuple[float, int]:
    started = time.perf_counter()
    fired = fire_due(store, CONFIG, identity="bench", now=now)
    return time.perf_counter() - started, len(fired)


def run(store: Store, groups: int, label: str) -> None:
    install_outbox_writer(store, CONFIG)
    install_page_writer(store, CONFIG)
    started = time.perf_counter()
    fill(store, groups)
    filled = time.perf_counter() - started
    t0 = utcnow()
    first, fired_first = timed_pass(store, t0)
    quiet, fired_quiet = timed_pass(store, t0 + timedelta(minutes=1))
    second, fired_second = timed_pass(store, t0 + timedelta(minutes=16))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label}: {groups} groups ({3 * groups} incidents, filled in {filled:.1f} s) | "
        f"page pass {first:.2f} s ({fired_first} fired) | quiet pass {quiet:.2f} s "
        f"({fired_quiet}) | notify pass {second:.2f} s ({fired_second}) | peak RSS {peak:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000)
    args = parser.parse_args()
    postgres_url = os.environ.get("WARDEN_TEST_POSTGRES_URL")
    for backend in ("sqlite", "postgresql") if postgres_url else ("sqlite",):
        with fresh_store(backend, postgres_url) as store:
            run(store, args.groups, backend)


if __name__ == "__main__":
    main()
