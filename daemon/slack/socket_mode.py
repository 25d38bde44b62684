"""Socket Mode: Slack pushes interactions over a WebSocket the daemon opens (no public URL).

slack_sdk's built-in `SocketModeClient` connects with the app-level token (`xapp-`), reconnects
by itself, and hands each envelope to our listener, which spools the interaction
(`SlackReceiver.accept`) before acknowledging the envelope: an envelope lost with the
connection before its ack is delivered again by Slack (`retry_attempt`), and the dedupe key
makes the copy a no-op. A malformed interaction (`daemon.slack.interactions`) is logged and
acknowledged, not spooled. `SocketModeWatch` logs each disconnection and reconnection, and
counts them, so an operator sees a flapping socket.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from daemon.slack.interactions import MalformedInteraction
from daemon.slack.receiver import SlackReceiver

log = logging.getLogger(__name__)


class SocketModeWatch:
    """Connection state of the Socket Mode client, for logs and health checks: Slack greets
    every new connection with `hello`, and the client reports each close."""

    def __init__(self) -> None:
        self.connected = False
        #: Connections made so far; every one after the first is a reconnection.
        self.connections = 0
        self.since = time.monotonic()

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)

    def on_message(self, message: str) -> None:
        if '"hello"' not in message:
            return
        try:
            kind = json.loads(message).get("type")
        except ValueError:
            return
        if kind == "hello":
            self.connected, self.since = True, time.monotonic()
            self.connections += 1
            if self.connections > 1:
                log.info("Slack Socket Mode reconnected (%s reconnections)", self.reconnects)
            else:
                log.info("Slack Socket Mode connected")

    def on_close(self, code: int, reason: str | None) -> None:
        self.connected, self.since = False, time.monotonic()
        log.warning(
            "Slack Socket Mode connection closed (%s %s); slack_sdk reconnects by itself",
            code,
            reason or "",
        )


def start_socket_mode(
    app_token: str, web_client: WebClient, receiver: SlackReceiver, stop: threading.Event
) -> tuple[SocketModeClient, SocketModeWatch]:
    """Start listening: the client connects (and retries) on its own thread and is closed
    when `stop` is set."""
    watch = SocketModeWatch()
    client = SocketModeClient(
        app_token=app_token,
        web_client=web_client,
        auto_reconnect_enabled=True,
        on_message_listeners=[watch.on_message],
        on_close_listeners=[watch.on_close],
    )

    def on_request(socket: BaseSocketModeClient, request: SocketModeRequest) -> None:
        if request.type == "interactive":
            try:
                receiver.accept(request.payload, source="socket")
            except MalformedInteraction as error:  # acknowledged: a redelivery is no better
                log.warning("refused a malformed Slack interaction: %s", error)
        # Acknowledged after the spool write (and for envelopes that are not ours), so
        # Slack redelivers only what Warden may not have.
        socket.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    client.socket_mode_request_listeners.append(on_request)
    threading.Thread(
        target=_connect_until_stopped,
        args=(client, stop),
        name="warden-socket-mode",
        daemon=True,
    ).start()
    return client, watch


def _connect_until_stopped(client: SocketModeClient, stop: threading.Event) -> None:
    """Connect in the background, retrying with backoff: Slack being down or the app token
    being wrong at start must not keep the daemon from monitoring. Once connected, slack_sdk
    reconnects by itself; the client is closed when `stop` is set."""
    wait = 1.0
    while not stop.is_set():
        try:
            client.connect()
            break
        except Exception as error:  # noqa: BLE001 -- SlackApiError, OSError, ValueError...; retry
            log.error("Slack Socket Mode could not connect (%s); retrying in %.0fs", error, wait)
            stop.wait(wait)
            wait = min(wait * 2, 60.0)
    stop.wait()
    client.close()
