"""Socket Mode end to end: the real slack_sdk client connected to a fake Socket Mode server,
inside the running Slack service. A click is acknowledged after it is spooled, acted on
once, survives a dropped connection, and a redelivery after the drop changes nothing."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from daemon.slack.inbox import SPOOL_SUFFIX
from daemon.slack.service import SlackService
from daemon.store.models import SlackInteraction
from tests.slack.fake_slack import FakeSlack
from tests.slack.fake_socket_mode import FakeSocketMode
from tests.slack.scenario import approve_click, detect, run_of, slack_config, with_slack, write_data

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


@pytest.fixture
def service(store, tmp_path, monkeypatch):
    for name in PROXY_VARIABLES:  # slack_sdk would tunnel 127.0.0.1 through a proxy
        monkeypatch.delenv(name, raising=False)
    with FakeSlack() as fake, FakeSocketMode() as socket:
        fake.socket_url = socket.url
        write_data(tmp_path / "data")
        config = slack_config(tmp_path, fake.url, app_token="xapp-test")
        with_slack(store, config)
        service = SlackService(store, config)
        service.start()
        socket.wait_for_connection(timeout=15)
        try:
            yield service, socket, config
        finally:
            service.stop()


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _interactions(store) -> list[SlackInteraction]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(SlackInteraction)).all())


def test_a_click_over_the_socket_is_acked_and_approves_once_across_a_reconnect(service, store):
    slack, socket, config = service
    (run_id,) = detect(store, config)
    click = approve_click(run_of(store, run_id), action_ts="1700000000.000042")
    envelope = socket.send_interactive(click)
    assert socket.wait_for_ack(envelope, timeout=10) == {"envelope_id": envelope}
    _wait(lambda: run_of(store, run_id).status == "approved")

    assert socket.drop_connections() >= 1
    socket.wait_for_connection(timeout=15, nth=2)
    # Slack redelivers an envelope it thinks was lost with the connection.
    again = socket.send_interactive(click, envelope_id=envelope, retry_attempt=1)
    assert socket.wait_for_ack(again, timeout=10)["envelope_id"] == envelope
    # The redelivery was spooled before its ack; the processor has handled it once its
    # spool file is gone (stored, or found stored already and dropped).
    _wait(lambda: not list(slack.inbox.folder.glob(f"*{SPOOL_SUFFIX}")))
    (interaction,) = _interactions(store)
    assert interaction.source == "socket" and interaction.status == "done"
    _wait(lambda: slack.socket_watch is not None and slack.socket_watch.reconnects >= 1)
