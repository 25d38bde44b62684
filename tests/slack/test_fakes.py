"""The Slack fakes behave like Slack for the real slack_sdk clients, faults included."""

from __future__ import annotations

import http.client
import queue
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from tests.slack.fake_slack import FakeSlack
from tests.slack.fake_socket_mode import FakeSocketMode

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
METADATA = {"event_type": "warden_incident", "event_payload": {"incident_id": 7}}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both clients would send 127.0.0.1 traffic through a proxy named in the environment.
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(usergroups={"S123": ["U1", "U2"]}) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.url, timeout=5)


def test_post_message_answers_channel_id_and_increasing_ts(
    slack: FakeSlack, client: WebClient
) -> None:
    first = client.chat_postMessage(channel="#ml-oncall", text="drift on orders", blocks=[])
    second = client.chat_postMessage(channel="#ml-oncall", text="freshness on users")

    channel = slack.channel_id("#ml-oncall")
    assert first["channel"] == second["channel"] == channel == slack.channel_id("ml-oncall")
    assert channel.startswith("C") and len(channel) == 9
    assert first["ts"] == "1700000000.000100"
    assert float(second["ts"]) > float(first["ts"])
    assert second["message"]["text"] == "freshness on users"
    assert [m["text"] for m in slack.messages("#ml-oncall")] == [
        "drift on orders",
        "freshness on users",
    ]
    (call, _) = slack.calls_to("chat.postMessage")
    assert call.params == {"channel": "#ml-oncall", "text": "drift on orders", "blocks": []}
    assert call.headers["Authorization"] == "Bearer xoxb-test"
    assert call.headers["Content-Type"].startswith("application/json")


def test_channel_ids_are_kept(client: WebClient) -> None:
    assert client.chat_postMessage(channel="C0123ABCD", text="hi")["channel"] == "C0123ABCD"


def test_thread_replies_and_metadata(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="#ml-oncall", text="incident", metadata=METADATA)
    reply = client.chat_postMessage(channel="#ml-oncall", text="update", thread_ts=parent["ts"])
    client.chat_postMessage(channel="#ml-oncall", text="another incident")
    channel = parent["channel"]

    history = client.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["another incident", "incident"]
    assert history["messages"][1]["metadata"] == METADATA
    assert history["messages"][1]["reply_count"] == 1
    assert "metadata" not in client.conversations_history(channel=channel)["messages"][1]

    replies = client.conversations_replies(channel=channel, ts=parent["ts"])
    assert [m["ts"] for m in replies["messages"]] == [parent["ts"], reply["ts"]]
    assert replies["messages"][1]["thread_ts"] == parent["ts"]
    assert [m["ts"] for m in slack.thread("#ml-oncall", reply["ts"])] == [
        parent["ts"],
        reply["ts"],
    ]
    # The "GET" methods arrive as a POST form with booleans as "1".
    assert slack.calls_to("conversations.history")[0].params["include_all_metadata"] == "1"


def test_update_replaces_text_and_blocks(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="#ml-oncall", text="awaiting approval", blocks=[])
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "approved by <@U1>"}}]
    updated = client.chat_update(
        channel=posted["channel"], ts=posted["ts"], text="approved", blocks=blocks
    )

    assert updated["ts"] == posted["ts"]
    (message,) = slack.messages("#ml-oncall")
    assert (message["text"], message["blocks"]) == ("approved", blocks)
    assert "edited" in message
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel=posted["channel"], ts="1.000000", text="nope")
    assert missing.value.response["error"] == "message_not_found"


def test_ephemeral_views_and_usergroups(slack: FakeSlack, client: WebClient) -> None:
    ephemeral = client.chat_postEphemeral(channel="#ml-oncall", user="U9", text="not allowed")
    assert ephemeral["message_ts"]
    assert slack.messages("#ml-oncall") == []
    assert slack.ephemerals("#ml-oncall")[0]["user"] == "U9"

    view = {"type": "modal", "title": {"type": "plain_text", "text": "Silence"}, "blocks": []}
    opened = client.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["title"] == view["title"]
    assert slack.opened_views == [opened["view"]]

    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as unknown:
        client.usergroups_users_list(usergroup="S999")
    assert unknown.value.response["error"] == "no_such_subteam"


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-wrong", "invalid_auth"), ("", "not_authed"), ("xapp-test", "not_allowed_token_type")],
)
def test_bad_tokens_are_refused(slack: FakeSlack, token: str, error: str) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(token=token or None, base_url=slack.url).chat_postMessage(channel="#x", text="y")

    assert refused.value.response.status_code == 200
    assert refused.value.response["error"] == error
    assert slack.messages("#x") == []
    assert slack.calls_to("chat.postMessage")[0].error == error


def test_rate_limit_surfaces_with_retry_after(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=2, times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as limited:
            client.chat_postMessage(channel="#ml-oncall", text="hi")
        assert limited.value.response.status_code == 429
        assert limited.value.response.headers["Retry-After"] == "2"
        assert limited.value.response["error"] == "ratelimited"
    assert slack.messages("#ml-oncall") == []

    client.chat_postMessage(channel="#ml-oncall", text="hi")
    assert [call.status for call in slack.calls_to("chat.postMessage")] == [429, 429, 200]
    assert len(slack.messages("#ml-oncall")) == 1


def test_rate_limit_retry_handler_is_opt_in(slack: FakeSlack) -> None:
    retrying = WebClient(
        token=slack.bot_token, base_url=slack.url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    slack.fail_next("chat.postMessage", retry_after=0)

    assert retrying.chat_postMessage(channel="#ml-oncall", text="hi")["ok"]
    assert [call.status for call in slack.calls_to("chat.postMessage")] == [429, 200]


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ({"status": 500}, 500, "internal_error"),
        ({"error": "channel_not_found"}, 200, "channel_not_found"),
        ({"status": 503, "error": "service_unavailable"}, 503, "service_unavailable"),
    ],
)
def test_injected_errors_create_nothing(
    slack: FakeSlack, client: WebClient, fault: dict, status: int, error: str
) -> None:
    slack.fail_next("*", **fault)

    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel="#ml-oncall", text="hi")
    assert failed.value.response.status_code == status
    assert failed.value.response["error"] == error
    assert slack.messages("#ml-oncall") == []
    assert slack.calls[-1].status == status


def test_down_answers_503_until_back_up(slack: FakeSlack, client: WebClient) -> None:
    slack.set_down(True)
    with pytest.raises(SlackApiError) as down:
        client.chat_postMessage(channel="#ml-oncall", text="hi")
    assert down.value.response.status_code == 503
    assert "non-JSON" in down.value.response["error"]
    assert slack.messages("#ml-oncall") == []

    slack.set_down(False)
    client.chat_postMessage(channel="#ml-oncall", text="hi")
    assert [call.status for call in slack.calls_to("chat.postMessage")] == [503, 200]


def test_down_hanging_up_raises_after_one_default_retry(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.set_down(True, close_connection=True)

    with pytest.raises(http.client.RemoteDisconnected):
        client.auth_test()
    assert [call.status for call in slack.calls_to("auth.test")] == [None, None]


# -- Socket Mode -----------------------------------------------------------------------------


@pytest.fixture
def socket_mode(slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as fake:
        slack.socket_url = fake.url
        yield fake


@pytest.fixture
def requests_seen() -> queue.Queue[SocketModeRequest]:
    return queue.Queue()


@pytest.fixture
def socket_client(
    slack: FakeSlack, socket_mode: FakeSocketMode, requests_seen: queue.Queue[SocketModeRequest]
) -> Iterator[SocketModeClient]:
    def acknowledge(client: SocketModeClient, request: SocketModeRequest) -> None:
        requests_seen.put(request)
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    # A short ping_interval: the client's monitor reconnects on that beat.
    client = SocketModeClient(
        app_token=slack.app_token, web_client=WebClient(base_url=slack.url), ping_interval=0.5
    )
    client.socket_mode_request_listeners.append(acknowledge)
    client.connect()
    yield client
    client.close()


def test_socket_mode_client_acks_an_interactive_envelope(
    slack: FakeSlack,
    socket_mode: FakeSocketMode,
    socket_client: SocketModeClient,
    requests_seen: queue.Queue[SocketModeRequest],
) -> None:
    socket_mode.wait_for_connection()
    assert socket_mode.url.startswith("ws://127.0.0.1:")
    (opened,) = slack.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == "Bearer xapp-test"

    payload = {"type": "block_actions", "actions": [{"action_id": "approve", "value": "42"}]}
    envelope_id = socket_mode.send_interactive(payload)

    assert socket_mode.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    request = requests_seen.get(timeout=5)
    assert (request.type, request.envelope_id, request.payload) == (
        "interactive",
        envelope_id,
        payload,
    )


@pytest.mark.parametrize("how", ["drop", "refresh"])
def test_socket_mode_client_reconnects(
    slack: FakeSlack, socket_mode: FakeSocketMode, socket_client: SocketModeClient, how: str
) -> None:
    socket_mode.wait_for_connection()
    if how == "drop":
        assert socket_mode.drop_connections() == 1
    else:
        socket_mode.send_disconnect()

    socket_mode.wait_for_connection(nth=2)
    assert len(slack.calls_to("apps.connections.open")) == 2
    envelope_id = socket_mode.send_interactive({"type": "block_actions", "actions": []})
    assert socket_mode.wait_for_ack(envelope_id)["envelope_id"] == envelope_id
