"""Hostile requests over real HTTP: bodies over the cap get 413 without being read (memory
stays flat), the approval API checks its token before it parses a body, and signed but
malformed Slack payloads get 400, never 500, and spool nothing."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import select

from daemon.slack.service import SlackService
from daemon.store.models import Approval
from tests.slack.fake_slack import FakeSlack
from tests.slack.scenario import (
    APPROVERS,
    SIGNING_SECRET,
    approve_click,
    detect,
    reason_submission,
    run_of,
    signed,
    slack_config,
    with_slack,
    write_data,
)
from tests.slack.served import served

TOKEN = {"Authorization": "Bearer api-secret"}
#: These tests are about HTTP, not the store: SQLite is enough (the inbox tests cover both).
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
#: The caps (`daemon.http.body_limit`), restated: a change to them should be deliberate.
API_CAP, SLACK_CAP = 64 * 1024, 256 * 1024
BIG = 5 * 1024 * 1024


@pytest.fixture
def daemon(store, tmp_path):
    """The Slack service (not started: tests call its steps) behind a real HTTP server."""
    with FakeSlack() as fake:
        write_data(tmp_path / "data")
        config = slack_config(tmp_path, fake.url)
        with_slack(store, config)
        service = SlackService(store, config)
        (run_id,) = detect(store, config)
        with served(store, config, service.receiver) as base:
            yield service, base, run_of(store, run_id)


def _spooled(service) -> list:
    folder = service.inbox.folder
    return sorted(folder.glob("*.json")) if folder.exists() else []


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes in chunks, never all in memory (httpx sends them chunked)."""
    chunk = b"a" * size
    for _ in range(total // size):
        yield chunk


def _big_post(url: str, *, chunked: bool, headers: dict[str, str]) -> int:
    if not chunked:  # a declared length, the bytes streamed all the same
        headers = {**headers, "Content-Length": str(BIG)}
    try:
        return httpx.post(url, content=_chunks(BIG), headers=headers, timeout=60).status_code
    except httpx.TransportError as error:  # would hide a 413: say what happened instead
        return -len(type(error).__name__)


@sqlite_only
def test_bodies_over_the_cap_get_413_without_being_read(daemon, store):
    """20 posts of 5 MB at once, declared or chunked, to the request URL and to the approval
    API (with its token, so the body would be read next): all 413, nothing spooled or
    decided, and the Python heap of the whole process (server and clients) stays far below
    one body per request."""
    service, base, run = daemon
    targets: list[tuple[str, dict[str, str]]] = [
        (f"{base}/slack/actions", {"Content-Type": "application/x-www-form-urlencoded"}),
        (f"{base}/api/runs/{run.id}/approve", {**TOKEN, "Content-Type": "application/json"}),
    ]
    answers: list[int] = []
    posts = [
        threading.Thread(
            target=lambda url=url, headers=headers, chunked=index % 4 < 2: answers.append(
                _big_post(url, chunked=chunked, headers=headers)
            )
        )
        for index in range(20)
        for url, headers in [targets[index % 2]]
    ]
    tracemalloc.start()
    try:
        for post in posts:
            post.start()
        for post in posts:
            post.join()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert answers == [413] * 20
    assert peak < 32 * 1024 * 1024, f"peak Python heap {peak / 2**20:.0f} MiB"
    service.process()
    assert _spooled(service) == []
    with store.session(readonly=True) as session:
        assert session.exec(select(Approval)).all() == []


@sqlite_only
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_the_caps_are_64_kib_for_the_api_and_256_kib_for_slack(daemon, chunked):
    _service, base, run = daemon

    def post(path: str, size: int, headers: dict[str, str]) -> int:
        content = _chunks(size, 1024) if chunked else b" " * size
        return httpx.post(f"{base}{path}", content=content, headers=headers).status_code

    approve = f"/api/runs/{run.id}/approve"
    assert post(approve, API_CAP + 1024, TOKEN) == 413
    assert post(approve, API_CAP, TOKEN) == 422  # read and parsed: only blanks
    assert post("/slack/actions", SLACK_CAP + 1024, {}) == 413
    assert post("/slack/actions", SLACK_CAP, {}) == 401  # read, not signed


@sqlite_only
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'{"as": 5}', b"\xff\xfe\x00", b'{"as": ' + b"9" * 5000 + b"}"],
    ids=["not-json", "array", "wrong-type", "not-utf8", "huge-integer"],
)
@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic x"])
def test_the_approval_api_checks_the_token_before_the_body(daemon, body, authorization):
    _service, base, run = daemon
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    for decision in ("approve", "reject"):
        response = httpx.post(f"{base}/api/runs/{run.id}/{decision}", content=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer"


@sqlite_only
def test_with_the_token_a_malformed_body_is_a_422_and_a_good_one_decides(daemon, store):
    _service, base, run = daemon
    url = f"{base}/api/runs/{run.id}/approve"
    for body in (b"{not json", b"\xff\xfe", b'{"as": 5}', b"{}"):
        response = httpx.post(url, content=body, headers=TOKEN)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][0] == "body"
    assert httpx.post(url, json={"as": "alice"}, headers=TOKEN).json()["status"] == "approved"
    spec = httpx.get(f"{base}/openapi.json", headers=TOKEN).json()
    described = spec["paths"]["/api/runs/{run_id}/approve"]["post"]["requestBody"]
    assert set(described["content"]["application/json"]["schema"]["properties"]) == {
        "as",
        "reason",
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `path` (dot-separated; digits index lists) to `value`; a value of
    `_DELETE` removes the key."""

    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is _DELETE:
            del target[key]
        else:
            target[key] = value

    return mutate


_DELETE = object()

CLICK_MUTATIONS = {
    "user-is-a-string": _set("user", "U0ALICE"),
    "user-missing": _set("user", _DELETE),
    "user-id-a-number": _set("user.id", 12345),
    "user-id-too-long": _set("user.id", "U" * 60),
    "team-is-a-list": _set("team", ["T0FAKE"]),
    "channel-is-a-string": _set("channel", "C0ONCALL1"),
    "actions-an-object": _set("actions", {"0": {}}),
    "action-a-string": _set("actions.0", "warden_approve"),
    "action-id-a-list": _set("actions.0.action_id", ["warden_approve"]),
    "action-ts-a-huge-integer": _set("actions.0.action_ts", 10**200),
    "action-ts-missing": _set("actions.0.action_ts", _DELETE),
    "value-not-json": _set("actions.0.value", "nope"),
    "value-a-number": _set("actions.0.value", 7),
    "run-id-a-huge-integer": _set("actions.0.value", json.dumps({"run": 10**30, "hash": "a" * 64})),
    "run-id-a-string": _set("actions.0.value", json.dumps({"run": "1", "hash": "a" * 64})),
    "trigger-id-an-object": _set("trigger_id", {"id": "x"}),
    "not-a-number": _set("extra", float("nan")),
}

SUBMISSION_MUTATIONS = {
    "view-is-a-list": _set("view", []),
    "values-a-list": _set("view.state.values", []),
    "reason-a-number": _set("view.state.values.reason.reason.value", 42),
    "reason-too-long": _set("view.state.values.reason.reason.value", "x" * 3001),
    "view-hash-missing": _set("view.hash", _DELETE),
    "metadata-not-json": _set("view.private_metadata", "{"),
    "metadata-channel-a-list": _set(
        "view.private_metadata", json.dumps({"run": 1, "hash": "a" * 64, "channel": ["C"]})
    ),
}


@sqlite_only
@pytest.mark.parametrize("mutation", sorted(CLICK_MUTATIONS) + sorted(SUBMISSION_MUTATIONS))
def test_a_signed_but_malformed_payload_is_a_400_and_spools_nothing(daemon, mutation):
    service, base, run = daemon
    if mutation in CLICK_MUTATIONS:
        payload = copy.deepcopy(approve_click(run, user=APPROVERS[0]))
        CLICK_MUTATIONS[mutation](payload)
    else:
        payload = copy.deepcopy(reason_submission(run, "the feed changed"))
        SUBMISSION_MUTATIONS[mutation](payload)
    body, headers = signed(payload)

    response = httpx.post(f"{base}/slack/actions", content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert _spooled(service) == []


@sqlite_only
def test_a_number_too_long_to_read_is_a_400(daemon):
    """JSON with a 5,000-digit integer: Python refuses to read it (over 4,300 digits)."""
    service, base, run = daemon
    text = json.dumps(approve_click(run)).replace('"type": "button"', '"type": ' + "9" * 5000)
    body = urlencode({"payload": text}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    assert httpx.post(f"{base}/slack/actions", content=body, headers=headers).status_code == 400
    assert _spooled(service) == []


@sqlite_only
def test_well_formed_payloads_still_go_through(daemon, store):
    service, base, run = daemon
    body, headers = signed(approve_click(run, user=APPROVERS[0]))
    assert httpx.post(f"{base}/slack/actions", content=body, headers=headers).status_code == 200
    service.process()
    assert run_of(store, run.id).status == "approved"
