"""A fake Slack Socket Mode server, so the real ``slack_sdk`` SocketModeClient can connect.

``FakeSocketMode`` runs a ``websockets`` sync server on ``127.0.0.1`` (a free port) in a
daemon thread. Hand its ``url`` to ``FakeSlack.socket_url``; the client fetches it through
``apps.connections.open`` and connects. Like Slack, the server greets every connection with
``{"type": "hello", ...}``; it then pushes envelopes (``send_interactive``), collects the
acks the client sends back, and can drop connections or ask for a refresh to exercise
reconnects.

Not covered: the ``ticket`` in the URL is not checked, envelopes are not re-sent when no ack
arrives, pings are sent but a missing pong is never punished, and ``events_api`` or
``slash_commands`` envelopes go through the generic ``send_envelope``.

What slack_sdk 3.47's builtin client (``slack_sdk.socket_mode.builtin``) does, read from its
source and checked by ``tests/slack/test_fakes.py``:

* ``ws://`` works. ``Connection.connect`` takes the port from the URL (443 for ``wss`` and 80
  for ``ws`` when absent) and ``_establish_new_socket_connection`` opens a plain socket for
  any port but 443; the scheme only picks that default port. Two catches: with ``HTTPS_PROXY``
  or ``HTTP_PROXY`` set it tunnels through the proxy and wraps TLS regardless, and the URL
  needs a path, since the handshake line is ``GET {path}?{query}`` (so ``url`` is
  ``ws://127.0.0.1:<port>/link/?ticket=fake-ticket&app_id=<app_id>``, shaped like Slack's).
* The client acks with ``send_socket_mode_response(SocketModeResponse(envelope_id=...))``,
  which sends ``{"envelope_id": ...}`` (plus ``"payload"`` when one is given).
* After a close frame it disconnects, and its monitor reconnects (calling
  ``apps.connections.open`` again) within the client's ``ping_interval`` (default 5 s; pass
  a small one in tests). A ``{"type": "disconnect"}`` message makes it reconnect at once,
  then close the old socket.
* Its receive loop blocks in ``recv`` (3 s timeout) holding the socket's receive lock, and
  ``close()`` or a reconnect waits for that lock. Without traffic from the server each costs
  up to 3 s, hence this fake's default 0.2 s pings. ``close()`` still takes about 1 s (its
  message processor polls a queue every second). Two threads disconnecting at once can raise
  ``AttributeError: 'NoneType' object has no attribute 'close'`` inside slack_sdk
  (``Connection.disconnect`` checks ``sock`` before taking the locks).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

GOING_AWAY = 1001


class FakeSocketMode:
    """Socket Mode on ``127.0.0.1``; use as a context manager (or ``start``/``stop``)."""

    def __init__(self, *, app_id: str = "A0FAKEAPP", ping_interval: float | None = 0.2) -> None:
        self.app_id = app_id
        self.ping_interval = ping_interval
        self._state = threading.Condition()
        self._open: list[ServerConnection] = []  # oldest first; the last one gets envelopes
        self._accepted = 0
        self._received: list[dict[str, Any]] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeSocketMode:
        # The builtin client never offers compression. Frequent pings (never enforced with a
        # timeout) wake its blocking recv, so its close() and reconnects do not wait out the
        # 3 s receive timeout while holding the socket lock.
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            compression=None,
            ping_interval=self.ping_interval,
            ping_timeout=None,
            close_timeout=2,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/link/?ticket=fake-ticket&app_id=<app_id>``."""
        if self._server is None:
            raise RuntimeError("FakeSocketMode is not started")
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket=fake-ticket&app_id={self.app_id}"

    # -- connections ----------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many clients are connected now."""
        with self._state:
            return len(self._open)

    @property
    def connections_accepted(self) -> int:
        """How many connections were accepted (and greeted) since start."""
        with self._state:
            return self._accepted

    def wait_for_connection(self, timeout: float = 5.0, *, nth: int = 1) -> None:
        """Block until the ``nth`` connection since start was greeted and one is open."""
        with self._state:
            if not self._state.wait_for(
                lambda: self._accepted >= nth and bool(self._open), timeout
            ):
                raise TimeoutError(f"connection #{nth} did not arrive in {timeout} s")

    def drop_connections(self, code: int = GOING_AWAY, reason: str = "") -> int:
        """Close every open connection with a close frame; return how many were closed."""
        with self._state:
            dropping = list(self._open)
        for connection in dropping:
            connection.close(code, reason)
        return len(dropping)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message, which asks the client to reconnect."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        for connection in self._open_connections():
            connection.send(json.dumps(message))

    # -- envelopes ------------------------------------------------------------------------

    def send_envelope(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool = False,
    ) -> str:
        """Push an envelope to the newest connection and return its ``envelope_id``."""
        envelope_id = envelope_id or str(uuid.uuid4())
        connections = self._open_connections()
        if not connections:
            raise RuntimeError("no Socket Mode client is connected")
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        connections[-1].send(json.dumps(envelope))
        return envelope_id

    def send_interactive(
        self, payload: dict[str, Any], envelope_id: str | None = None, retry_attempt: int = 0
    ) -> str:
        """Push an ``interactive`` envelope (a button click, a modal submission)."""
        return self.send_envelope(
            "interactive",
            payload,
            envelope_id=envelope_id,
            retry_attempt=retry_attempt,
            retry_reason="timeout" if retry_attempt else "",
        )

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The ack the client sent for ``envelope_id``; TimeoutError after ``timeout`` s."""
        with self._state:
            if not self._state.wait_for(lambda: envelope_id in self._acks, timeout):
                raise TimeoutError(f"no ack for envelope {envelope_id} in {timeout} s")
            return dict(self._acks[envelope_id])

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every JSON message clients sent, oldest first (non-JSON text is kept as ``raw``)."""
        with self._state:
            return list(self._received)

    # -- server side ----------------------------------------------------------------------

    def _open_connections(self) -> list[ServerConnection]:
        with self._state:
            return list(self._open)

    def _handle(self, connection: ServerConnection) -> None:
        with self._state:
            open_now = len(self._open) + 1
        hello = {
            "type": "hello",
            "num_connections": open_now,
            "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        try:
            connection.send(json.dumps(hello))
            # Registered only once greeted, so an envelope never overtakes the hello.
            with self._state:
                self._accepted += 1
                self._open.append(connection)
                self._state.notify_all()
            for text in connection:
                self._record(text)
        except ConnectionClosed:
            pass  # SocketModeClient.close() hangs up without a close frame
        finally:
            with self._state:
                if connection in self._open:
                    self._open.remove(connection)
                self._state.notify_all()

    def _record(self, text: str | bytes) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            message = {"raw": text if isinstance(text, str) else text.decode("utf-8", "replace")}
        with self._state:
            self._received.append(message)
            if isinstance(message.get("envelope_id"), str):
                self._acks[message["envelope_id"]] = message
            self._state.notify_all()
