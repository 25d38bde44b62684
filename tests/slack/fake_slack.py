"""A local fake of the Slack Web API, spoken over real HTTP so the real ``slack_sdk`` runs.

``FakeSlack`` listens on ``127.0.0.1`` (a free port) in a daemon thread and answers the
methods Warden uses: ``auth.test``, ``chat.postMessage`` (threads and message metadata),
``chat.update``, ``chat.postEphemeral``, ``views.open``, ``usergroups.users.list``,
``usergroups.list``, ``conversations.history``, ``conversations.replies`` and
``apps.connections.open``; every answer carries the token's scopes in ``x-oauth-scopes``. Point a
client at it with ``WebClient(token=fake.bot_token, base_url=fake.url)``; ``fake.url`` is
``http://127.0.0.1:<port>/api/``. Every request is recorded as a :class:`Call`, and faults
(HTTP 429/5xx, Slack error codes, a server that is down) can be injected per method.

Not covered: pagination cursors (everything fits one page), files, reactions, users, real
channel membership for posts (any existing channel accepts them, as with
``chat:write.public``; `member_channels` and `missing_channels` shape what
``conversations.history`` answers, and a post to a missing channel fails), trigger_id
expiry, request signing, and rate limits other than the ones a test injects. A missing token
answers ``not_authed`` and a wrong one ``invalid_auth``, as Slack does.

What slack_sdk 3.47's sync ``WebClient`` does on the wire, read from its source
(``web/base_client.py``) and checked by ``tests/slack/test_fakes.py``:

* It always sends POST and ignores ``http_verb``. ``chat.postMessage``, ``chat.update``,
  ``chat.postEphemeral`` and ``views.open`` send a JSON body; everything else, including the
  "GET" methods (``usergroups.users.list``, ``conversations.history``/``replies``), sends a
  form body with booleans as ``"1"``/``"0"``. The token goes in ``Authorization: Bearer``.
  The fake also accepts query strings, form-encoded JSON fields and a ``token`` param.
* HTTP 429 raises ``SlackApiError``: ``e.response.status_code == 429``,
  ``e.response.headers["Retry-After"]`` is the header as a string, ``e.response["error"]``
  is ``"ratelimited"``. ``default_retry_handlers()`` is only ``ConnectionErrorRetryHandler``,
  so nothing retries a 429 unless ``RateLimitErrorRetryHandler`` is added.
* HTTP 500/503 raise ``SlackApiError`` with that status and are not retried by default
  (``ServerErrorRetryHandler`` is opt-in). A non-JSON body, like the HTML that
  ``set_down(True)`` answers, reads as ``{"ok": False, "error": "Received a response in a
  non-JSON format: ..."}``.
* A connection closed without an answer (``set_down(True, close_connection=True)``) raises
  ``http.client.RemoteDisconnected``, not ``SlackApiError``, after the default handler
  retried once (two calls recorded, 0.5-1.5 s apart). A refused connection raises
  ``urllib.error.URLError`` after the same single retry.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

BOT_ID = "B0FAKEBOT"
#: The scopes of `config/slack-app-manifest.yaml`.
DEFAULT_SCOPES = (
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "usergroups:read",
)
_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{6,}$")
# Fields that slack_sdk JSON-encodes when it sends them in a form body.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
_CONTENT_FIELDS = ("text", "blocks", "attachments")
_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100
_DOWN_PAGE = b"<html><body><h1>503 Service Unavailable</h1></body></html>"

Params = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One request the fake received, recorded whatever it answered.

    ``at`` is ``time.time()`` on arrival. ``status`` is the HTTP status answered, or None when
    the connection was closed without an answer; ``error`` is the Slack error code sent back,
    or None for an ``ok`` answer. ``params`` never holds the token.
    """

    method: str
    params: Params
    headers: dict[str, str]
    at: float
    status: int | None = 200
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class _Fault:
    method: str  # "*" matches every method
    status: int
    error: str
    retry_after: int | None
    remaining: int


@dataclass(frozen=True)
class _Answer:
    status: int | None
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    error: str | None = None


class _SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in {"1", "true"}


def _parse_params(query: str, content_type: str, body: bytes) -> Params:
    """Merge query string and body (JSON or form) into one dict; ValueError if unreadable."""
    params: Params = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        if content_type.startswith("application/json"):
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                raise ValueError("JSON body is not an object")
            params.update(decoded)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        else:
            raise ValueError(f"unsupported content type {content_type!r}")
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value.startswith(("[", "{")):
            params[key] = json.loads(value)
    return params


class FakeSlack:
    """The Slack Web API on ``127.0.0.1``; use as a context manager (or ``start``/``stop``).

    ``usergroups`` maps a user group id to its member ids for ``usergroups.users.list``.
    Set ``socket_url`` (e.g. to ``FakeSocketMode.url``) for ``apps.connections.open``.
    All state is guarded by one lock, so tests may read it while clients post from threads.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        usergroups: dict[str, list[str]] | None = None,
        bot_user_id: str = "U0WARDEN",
        team_id: str = "T0FAKE",
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        member_channels: set[str] | None = None,
        missing_channels: set[str] | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.usergroups = dict(usergroups or {})
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        #: The bot token's scopes, sent in every answer's `x-oauth-scopes` header.
        self.scopes = scopes
        #: Channels (ids) the bot is a member of for `conversations.history`; None: all.
        self.member_channels = member_channels
        #: Channels (ids) that do not exist (`channel_not_found` from history).
        self.missing_channels = set(missing_channels or ())
        self.socket_url: str | None = None
        self._state = threading.Condition()
        self._calls: list[Call] = []
        self._messages: dict[str, list[Params]] = {}  # channel id -> messages in post order
        self._ephemerals: list[Params] = []
        self._views: list[Params] = []
        self._held: dict[str, threading.Event] = {}
        self._faults: list[_Fault] = []
        self._down: Literal["503", "close"] | None = None
        self._next_ts = _FIRST_TS_MICROS
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, tuple[Literal["bot", "app"], Callable[[Params], Params]]] = {
            "auth.test": ("bot", self._auth_test),
            "chat.postMessage": ("bot", self._post_message),
            "chat.update": ("bot", self._update),
            "chat.postEphemeral": ("bot", self._post_ephemeral),
            "views.open": ("bot", self._open_view),
            "usergroups.users.list": ("bot", self._usergroup_users),
            "usergroups.list": ("bot", self._usergroups_list),
            "conversations.history": ("bot", self._history),
            "conversations.replies": ("bot", self._replies),
            "apps.connections.open": ("app", self._open_connection),
        }

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll keeps stop() (which waits for one poll) from slowing every test.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ``base_url`` for slack_sdk: ``http://127.0.0.1:<port>/api/``."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    # -- faults ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int = 2,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` (``"*"``: any method) fail.

        With neither ``status`` nor ``error``: HTTP 429, ``Retry-After: <retry_after>`` and
        ``ratelimited``. With only ``error``: HTTP 200 carrying that Slack error code. Any other
        ``status`` answers that status with ``error`` (default ``internal_error``) in the body.
        """
        if status is None:
            status = 200 if error is not None else 429
        if error is None:
            error = "ratelimited" if status == 429 else "internal_error"
        fault = _Fault(method, status, error, retry_after if status == 429 else None, times)
        with self._state:
            self._faults.append(fault)

    def set_down(self, down: bool = True, *, close_connection: bool = False) -> None:
        """While down, every request gets HTTP 503 with an HTML page, or, with
        ``close_connection``, has its connection closed without an answer."""
        with self._state:
            self._down = ("close" if close_connection else "503") if down else None

    def hold_answers(self, method: str) -> None:
        """Do what calls to ``method`` ask (a post is stored) but keep their answers back until
        ``release_answers``: the caller sees a request in flight, as when it dies mid-call."""
        with self._state:
            self._held[method] = threading.Event()

    def release_answers(self, method: str) -> None:
        with self._state:
            gate = self._held.pop(method, None)
        if gate is not None:
            gate.set()

    def _gate(self, method: str) -> threading.Event | None:
        with self._state:
            return self._held.get(method)

    # -- what happened --------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every request so far, failed ones included, oldest first."""
        with self._state:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until ``method`` was called ``count`` times; TimeoutError after ``timeout`` s."""
        with self._state:
            if not self._state.wait_for(
                lambda: sum(call.method == method for call in self._calls) >= count, timeout
            ):
                raise TimeoutError(f"{method} was not called {count} time(s) in {timeout} s")
            return [call for call in self._calls if call.method == method]

    @staticmethod
    def channel_id(channel: str) -> str:
        """The id the fake uses for ``channel``: ids are kept, ``#name`` and ``name`` map to a
        stable ``C`` + 8 characters."""
        if _CHANNEL_ID.match(channel):
            return channel
        name = channel.removeprefix("#")
        return "C" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8].upper()

    def messages(self, channel: str) -> list[Params]:
        """Current state (after updates) of every message in ``channel``, replies included,
        oldest first."""
        with self._state:
            return copy.deepcopy(self._messages.get(self.channel_id(channel), []))

    def thread(self, channel: str, ts: str) -> list[Params]:
        """The thread holding ``ts``: its parent, then the replies, oldest first."""
        with self._state:
            return copy.deepcopy(self._thread_of(self.channel_id(channel), ts))

    def ephemerals(self, channel: str | None = None) -> list[Params]:
        """Ephemeral messages (never part of the channel history), oldest first."""
        with self._state:
            found = [
                message
                for message in self._ephemerals
                if channel is None or message["channel"] == self.channel_id(channel)
            ]
            return copy.deepcopy(found)

    @property
    def opened_views(self) -> list[Params]:
        """Views opened with ``views.open``, as answered (with their ``id``), oldest first."""
        with self._state:
            return copy.deepcopy(self._views)

    # -- request handling -----------------------------------------------------------------

    def _answer(self, path: str, query: str, headers: dict[str, str], body: bytes) -> _Answer:
        method = path.removeprefix("/api/")
        parse_error = False
        try:
            params = _parse_params(query, headers.get("Content-Type", ""), body)
        except ValueError:
            params, parse_error = {}, True
        bearer = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = bearer or str(params.get("token", ""))
        params.pop("token", None)
        with self._state:
            answer = self._decide(method, params, token, parse_error)
            recorded = copy.deepcopy(params)
            call = Call(method, recorded, headers, time.time(), answer.status, answer.error)
            self._calls.append(call)
            self._state.notify_all()
        return answer

    def _decide(self, method: str, params: Params, token: str, parse_error: bool) -> _Answer:
        if self._down == "close":
            return _Answer(status=None, error="connection_closed")
        if self._down == "503":
            return _Answer(503, _DOWN_PAGE, "text/html", error="service_unavailable")
        fault = next((f for f in self._faults if f.method in (method, "*")), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            has_retry_after = fault.retry_after is not None
            retry = (("Retry-After", str(fault.retry_after)),) if has_retry_after else ()
            body = json.dumps({"ok": False, "error": fault.error}).encode("utf-8")
            return _Answer(fault.status, body, headers=retry, error=fault.error)
        try:
            if parse_error:
                raise _SlackError("invalid_form_data")
            if method not in self._methods:
                raise _SlackError("unknown_method")
            token_kind, handler = self._methods[method]
            self._authorise(token, token_kind)
            result = {"ok": True, **handler(params)}
        except _SlackError as failure:
            body = json.dumps({"ok": False, "error": failure.code}).encode("utf-8")
            return _Answer(200, body, headers=self._scope_header(), error=failure.code)
        return _Answer(200, json.dumps(result).encode("utf-8"), headers=self._scope_header())

    def _scope_header(self) -> tuple[tuple[str, str], ...]:
        return (("x-oauth-scopes", ",".join(self.scopes)),)

    def _authorise(self, token: str, token_kind: Literal["bot", "app"]) -> None:
        expected = self.bot_token if token_kind == "bot" else self.app_token
        if not token:
            raise _SlackError("not_authed")
        if token == expected:
            return
        if token in (self.bot_token, self.app_token):
            raise _SlackError("not_allowed_token_type")
        raise _SlackError("invalid_auth")

    # -- state helpers (the lock is held) -------------------------------------------------

    def _new_ts(self) -> str:
        micros, self._next_ts = self._next_ts, self._next_ts + _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _require_channel(self, params: Params) -> str:
        channel = params.get("channel")
        if not channel:
            raise _SlackError("channel_not_found")
        return self.channel_id(str(channel))

    def _find(self, channel: str, ts: Any, missing: str) -> Params:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise _SlackError(missing)

    def _thread_of(self, channel: str, ts: str) -> list[Params]:
        root_ts = self._find(channel, ts, "thread_not_found").get("thread_ts", ts)
        return [
            message
            for message in self._messages.get(channel, [])
            if message.get("thread_ts", message["ts"]) == root_ts
        ]

    @staticmethod
    def _require_content(params: Params) -> None:
        if not any(params.get(field) for field in _CONTENT_FIELDS):
            raise _SlackError("no_text")

    @staticmethod
    def _check_metadata(params: Params) -> None:
        metadata = params.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and {"event_type", "event_payload"} <= metadata.keys()
        ):
            raise _SlackError("invalid_metadata_format")

    @staticmethod
    def _visible(message: Params, include_metadata: bool) -> Params:
        shown = copy.deepcopy(message)
        if not include_metadata:
            shown.pop("metadata", None)
        return shown

    # -- methods (the lock is held; validate everything before changing state) ------------

    def _auth_test(self, params: Params) -> Params:
        return {
            "url": "https://fake-warden.slack.com/",
            "team": "Fake Warden",
            "user": "warden",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, params: Params) -> Params:
        channel = self._require_channel(params)
        if channel in self.missing_channels:
            raise _SlackError("channel_not_found")
        self._require_content(params)
        self._check_metadata(params)
        root = None
        if params.get("thread_ts"):
            parent = self._find(channel, params["thread_ts"], "thread_not_found")
            root = self._find(channel, parent.get("thread_ts", parent["ts"]), "thread_not_found")
        message: Params = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "text": params.get("text", ""),
            "ts": self._new_ts(),
        }
        for field in ("blocks", "attachments", "metadata"):
            if field in params:
                message[field] = params[field]
        if root is not None:
            message["thread_ts"] = root["ts"]
            root["thread_ts"] = root["ts"]
            root["reply_count"] = root.get("reply_count", 0) + 1
            root["latest_reply"] = message["ts"]
        self._messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _update(self, params: Params) -> Params:
        channel = self._require_channel(params)
        message = self._find(channel, params.get("ts"), "message_not_found")
        self._require_content(params)
        self._check_metadata(params)
        # Like Slack, fields left out of the update are kept.
        for field in ("text", "blocks", "attachments", "metadata"):
            if field in params:
                message[field] = params[field]
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _post_ephemeral(self, params: Params) -> Params:
        channel = self._require_channel(params)
        if not params.get("user"):
            raise _SlackError("user_not_in_channel")
        self._require_content(params)
        ephemeral = {key: params[key] for key in ("user", *_CONTENT_FIELDS) if key in params}
        ephemeral.update(channel=channel, ts=self._new_ts())
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral["ts"]}

    def _open_view(self, params: Params) -> Params:
        if not params.get("trigger_id"):
            raise _SlackError("invalid_trigger_id")
        if not isinstance(params.get("view"), dict):
            raise _SlackError("invalid_arguments")
        number = len(self._views) + 1
        view = {
            **params["view"],
            "id": f"V0FAKE{number:04d}",
            "team_id": self.team_id,
            "state": {"values": {}},
            "hash": f"{number}.fakehash",
        }
        self._views.append(view)
        return {"view": copy.deepcopy(view)}

    def _usergroup_users(self, params: Params) -> Params:
        group = params.get("usergroup")
        if group not in self.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _history(self, params: Params) -> Params:
        channel = self._require_channel(params)
        if channel in self.missing_channels:
            raise _SlackError("channel_not_found")
        if self.member_channels is not None and channel not in self.member_channels:
            raise _SlackError("not_in_channel")
        include_metadata = _truthy(params.get("include_all_metadata"))
        limit = int(params.get("limit") or 100)
        # Replies stay in their thread; the history holds plain messages and thread parents.
        top_level = [
            message
            for message in reversed(self._messages.get(channel, []))
            if message.get("thread_ts", message["ts"]) == message["ts"]
        ]
        return {
            "messages": [self._visible(message, include_metadata) for message in top_level[:limit]],
            "has_more": len(top_level) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _usergroups_list(self, params: Params) -> Params:
        return {
            "usergroups": [
                {"id": group, "handle": group.lower(), "name": group}
                for group in sorted(self.usergroups)
            ]
        }

    def _replies(self, params: Params) -> Params:
        channel = self._require_channel(params)
        include_metadata = _truthy(params.get("include_all_metadata"))
        thread = self._thread_of(channel, str(params.get("ts", "")))
        return {
            "messages": [self._visible(message, include_metadata) for message in thread],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _open_connection(self, params: Params) -> Params:
        if self.socket_url is None:
            raise _SlackError("fake_socket_url_not_set")
        return {"url": self.socket_url}


class _Handler(BaseHTTPRequestHandler):
    """HTTP glue: read the request, let the FakeSlack decide, write its answer."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        answer = fake._answer(url.path, url.query, dict(self.headers.items()), body)
        gate = fake._gate(url.path.rsplit("/", 1)[-1])
        if gate is not None:
            gate.wait(120)
        if answer.status is None:
            self.close_connection = True  # hang up without a status line
            return
        self.send_response(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log; ``FakeSlack.calls`` records requests."""
