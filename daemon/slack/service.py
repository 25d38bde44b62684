"""Slack inside `warden run`: the threads that receive, decide and deliver.

- **processor**: every `PROCESS_SECONDS`, stores spooled interactions and acts on pending
  ones (`daemon.slack.inbox`, `daemon.slack.actions`);
- **dispatcher**: every `DISPATCH_SECONDS`, sends due outbox rows (`daemon.slack.dispatcher`);
- **Socket Mode** (with `slack.app_token`), or the HTTP request URL served by
  `daemon.http.app` (with `slack.signing_secret`); both at once work too.

Each loop survives its own errors (logged, retried next turn): the store or Slack being
away for a while delays messages, it does not stop the daemon or lose them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from slack_sdk import WebClient

from daemon.config.models import SlackConfig, WardenConfig
from daemon.slack.actions import ActionProcessor
from daemon.slack.dispatcher import dispatch_once
from daemon.slack.inbox import Inbox
from daemon.slack.outbox_writer import install_outbox_writer as install_outbox_writer  # re-exported
from daemon.slack.receiver import SlackReceiver
from daemon.slack.socket_mode import SocketModeWatch, start_socket_mode
from daemon.store.engine import Store

log = logging.getLogger(__name__)

PROCESS_SECONDS = 0.5
DISPATCH_SECONDS = 1.0
#: Timeout of one Slack Web API call, in seconds.
API_TIMEOUT_SECONDS = 10


def web_client(settings: SlackConfig) -> WebClient:
    """slack_sdk's client with the bot token, pointed at `slack.api_url` when set."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else None
    base_url = settings.api_url or WebClient.BASE_URL
    if not base_url.endswith("/"):
        base_url += "/"
    # No retry handlers: slack_sdk would resend a post whose answer was lost (a duplicate);
    # the dispatcher retries instead, after looking the message up.
    return WebClient(token=token, base_url=base_url, timeout=API_TIMEOUT_SECONDS, retry_handlers=[])


def inbox_folder(config: WardenConfig) -> Path:
    return Path(config.playbooks.work_root) / "slack-inbox"


class SlackService:
    """The Slack threads of one daemon; `start`, then `stop` on shutdown."""

    def __init__(self, store: Store, config: WardenConfig) -> None:
        assert config.slack is not None
        self.store = store
        self.config = config
        self.client = web_client(config.slack)
        self.inbox = Inbox(inbox_folder(config), store)
        secret = config.slack.signing_secret
        self.receiver = SlackReceiver(
            self.inbox, self.client, secret.get_secret_value() if secret else None
        )
        self.processor = ActionProcessor(store, config, self.client)
        self.socket_watch: SocketModeWatch | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._loop("warden-slack-processor", PROCESS_SECONDS, self.process)
        self._loop("warden-slack-dispatcher", DISPATCH_SECONDS, self.dispatch)
        app_token = self.config.slack.app_token if self.config.slack else None
        if app_token is not None:
            _, self.socket_watch = start_socket_mode(
                app_token.get_secret_value(), self.client, self.receiver, self._stop
            )

    def process(self) -> None:
        self.inbox.ingest()
        self.processor.process_pending()

    def dispatch(self) -> None:
        while dispatch_once(self.store, self.client):
            if self._stop.is_set():
                return

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, name: str, every: float, work: Callable[[], object]) -> None:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    work()
                except Exception:
                    log.exception("%s failed; trying again in %ss", name, every)
                self._stop.wait(every)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
