"""A real `warden run` killed with SIGKILL around a Slack post, then started again: every
message committed before the crash is delivered exactly once.

Two crashes: after the commit but before Slack took the post (Slack was down), and while
the post was in flight (Slack stored it, the answer never came back). The second is found
again by the dedupe key in the message metadata instead of being posted twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from daemon.config.loader import load_config
from daemon.store.engine import open_store
from daemon.store.models import OutboxMessage
from daemon.store.types import utcnow
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import detect, outbox, with_slack, write_data

WARDEN = Path(sys.executable).with_name("warden")
CONFIG = """\
store: {{url: "sqlite:///{root}/warden.db"}}
datasets:
  events: {{format: parquet, path: data, time_column: ts}}
routes:
  - {{match: {{pattern: null_spike}}, playbook: quarantine, approval: human}}
playbooks: {{work_root: work}}
slack:
  bot_token: ${{SLACK_BOT_TOKEN}}
  channel: {channel}
  approvers: [U0ALICE]
  api_url: {api_url}
"""


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


def _daemon(root: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env["SLACK_BOT_TOKEN"] = "xoxb-test"
    return subprocess.Popen(
        [str(WARDEN), "run", "--config", "warden.yaml"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def _until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _world(root: Path, fake: FakeSlack):
    write_data(root / "data")
    channel = fake.channel_id("#ml-oncall")  # an id, as history lookups need
    (root / "warden.yaml").write_text(CONFIG.format(root=root, channel=channel, api_url=fake.url))
    os.environ["SLACK_BOT_TOKEN"] = "xoxb-test"
    try:
        config = load_config(str(root / "warden.yaml"))
    finally:
        del os.environ["SLACK_BOT_TOKEN"]
    store = with_slack(open_store(config.store.url), config)
    detect(store, config)  # commits the incident, its proposal and their three messages
    assert [row.kind for row in outbox(store)] == ["post", "update", "reply"]
    return store, channel


def _roots(fake: FakeSlack, channel: str) -> list[dict]:
    return [m for m in fake.messages(channel) if m.get("thread_ts") in (None, m["ts"])]


def _all_sent(store) -> bool:
    return all(row.status == "sent" for row in outbox(store))


def test_killed_after_the_commit_before_slack_took_the_post(tmp_path, fake):
    store, channel = _world(tmp_path, fake)
    fake.set_down(True)
    first = _daemon(tmp_path)
    try:
        _until(lambda: fake.calls_to("chat.postMessage"), what="a first attempt")
    finally:
        _kill(first)
    assert _roots(fake, channel) == []
    fake.set_down(False)
    _expire_backoff(store)
    second = _daemon(tmp_path)
    try:
        _until(lambda: _all_sent(store), what="every message sent")
    finally:
        _kill(second)
    (message,) = _roots(fake, channel)
    assert len(fake.thread(channel, message["ts"])) == 2  # the proposal's reply, once
    assert len(fake.calls_to("chat.update")) == 1


def test_killed_while_the_post_was_in_flight(tmp_path, fake):
    store, channel = _world(tmp_path, fake)
    fake.hold_answers("chat.postMessage")
    first = _daemon(tmp_path)
    try:
        _until(lambda: fake.calls_to("chat.postMessage"), what="the post to reach Slack")
    finally:
        _kill(first)
    fake.release_answers("chat.postMessage")
    assert len(_roots(fake, channel)) == 1  # Slack has it; Warden never heard back
    (root,) = [row for row in outbox(store) if row.kind == "post"]
    assert root.status == "sending" and root.external_id is None
    _expire_backoff(store)  # the dead sender's lease ran out (60 s), without the wait
    second = _daemon(tmp_path)
    try:
        _until(lambda: _all_sent(store), what="every message sent")
    finally:
        _kill(second)
    (message,) = _roots(fake, channel)
    roots_posted = [c for c in fake.calls_to("chat.postMessage") if not c.params.get("thread_ts")]
    assert len(roots_posted) == 1  # looked up, not posted again
    (root,) = [row for row in outbox(store) if row.kind == "post"]
    assert root.external_id == message["ts"]
    assert len(fake.thread(channel, message["ts"])) == 2


def _expire_backoff(store) -> None:
    """Make rows waiting for a retry or a lease due now (time passing, without sleeping)."""
    with store.session() as session:
        session.exec(  # type: ignore[call-overload]
            update(OutboxMessage)
            .where(col(OutboxMessage.status).in_(["pending", "sending"]))
            .values(next_attempt_at=utcnow())
        )
