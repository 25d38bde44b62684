"""A real `warden run` killed with SIGKILL around a PagerDuty event, then started again:
the trigger, the acknowledgement and the resolution reach PagerDuty once each, in order,
as one alert.

Two crashes: after the trigger was committed and claimed, before it was sent; and after
PagerDuty took it, before the daemon recorded that. The second sends the trigger again,
which PagerDuty's de-duplication by `dedup_key` turns into a log entry, not a second
alert. The process stops itself at the named point (`WARDEN_TEST_STOP_AT`), so each test
fails unless the crash really happened there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from daemon.cli.common import store_for
from daemon.config.loader import load_config
from daemon.incidents.lifecycle import change_status
from daemon.store.models import IncidentStatus, OutboxMessage
from daemon.store.types import utcnow
from detectors.results import Finding
from tests.oncall.world import page_rows, scan
from tests.paging.fake_pagerduty import ROUTING_KEY, FakePagerDuty

WARDEN = Path(sys.executable).with_name("warden")
CONFIG = """\
store: {{url: "sqlite:///{root}/warden.db"}}
pagerduty:
  routing_key: ${{PAGERDUTY_ROUTING_KEY}}
  events_url: {url}
escalations:
  - name: default
    steps:
      - {{after: 0m, page: pagerduty}}
"""
NULLS = Finding("null_spike", "salary", "null_rate", 0.4, 0.05, True)


@pytest.fixture
def pagerduty():
    with FakePagerDuty() as server:
        yield server


def _world(root: Path, url: str):
    (root / "warden.yaml").write_text(CONFIG.format(root=root, url=url))
    os.environ["PAGERDUTY_ROUTING_KEY"] = ROUTING_KEY
    try:
        config = load_config(str(root / "warden.yaml"))
    finally:
        del os.environ["PAGERDUTY_ROUTING_KEY"]
    store = store_for(config)  # the page writer installed, as in every command
    (incident_id,) = scan(store, config, [NULLS], utcnow()).opened
    return store, incident_id


def _daemon(root: Path, stop_at: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["PAGERDUTY_ROUTING_KEY"] = ROUTING_KEY
    if stop_at:
        env["WARDEN_TEST_STOP_AT"] = stop_at
    return subprocess.Popen(
        [str(WARDEN), "run", "--config", "warden.yaml"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ack_and_close(store, incident_id: int) -> None:
    for to, reason in ((IncidentStatus.acknowledged, None), (IncidentStatus.closed, "fixed")):
        with store.session() as session:
            change_status(session, incident_id, to, actor="U0ALICE", reason=reason)


def _lease_ends(store) -> None:
    """The dead sender's lease (60 s) runs out, without the wait."""
    with store.session() as session:
        session.exec(  # type: ignore[call-overload]
            update(OutboxMessage)
            .where(col(OutboxMessage.status).in_(["pending", "sending"]))
            .values(next_attempt_at=utcnow())
        )


def _crash_then_recover(tmp_path: Path, pagerduty: FakePagerDuty, point: str):
    store, incident_id = _world(tmp_path, pagerduty.url)
    first = _daemon(tmp_path, point)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == -9, f"the daemon did not stop at {point}: {stderr[-2000:]}"
    (trigger,) = page_rows(store)
    assert (trigger.kind, trigger.status) == ("trigger", "sending")
    _ack_and_close(store, incident_id)  # queued behind the unsent trigger
    _lease_ends(store)
    second = _daemon(tmp_path, None)
    try:
        # The resolve is the last event, sent only after the others (order per group).
        pagerduty.wait_for_event("resolve")
    finally:
        # SIGTERM: the daemon finishes the pass in flight (it records the resolve) and exits.
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
    assert second.returncode == 0
    pages = page_rows(store)
    assert [(row.kind, row.status) for row in pages] == [
        ("trigger", "sent"),
        ("acknowledge", "sent"),
        ("resolve", "sent"),
    ]
    assert all("routing_key" not in row.payload for row in pages)  # never stored
    return store


def test_killed_after_the_claim_before_the_trigger_was_sent(tmp_path, pagerduty):
    _crash_then_recover(tmp_path, pagerduty, "page.claimed")
    assert [request["event"]["event_action"] for request in pagerduty.events] == [
        "trigger",
        "acknowledge",
        "resolve",
    ]
    (alert,) = pagerduty.alerts
    assert alert.status == "resolved" and alert.log == ["trigger", "acknowledge", "resolve"]


def test_killed_after_pagerduty_took_the_trigger(tmp_path, pagerduty):
    _crash_then_recover(tmp_path, pagerduty, "page.sent")
    actions = [request["event"]["event_action"] for request in pagerduty.events]
    assert actions == ["trigger", "trigger", "acknowledge", "resolve"]  # sent again, once
    (alert,) = pagerduty.alerts  # de-duplicated: one alert
    assert alert.status == "resolved"
    assert alert.log == ["trigger", "trigger (deduplicated)", "acknowledge", "resolve"]
