"""The incident report over real HTTP on both store backends: while the API needs a token it
opens only with a signed, unexpired link (what Slack messages carry) or a bearer token, and
refuses expired or forged links with 403 and no evidence; it leaves out the daemon's host
and pid; `/metrics`, `/docs` and the probes follow `http.public_endpoints`."""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.incidents.lifecycle import change_status
from daemon.reporting.report_links import LINK_KEY_VARIABLE, link_key, signature
from daemon.store.api_tokens import create_token
from daemon.store.engine import Store
from daemon.store.identities import new_identity
from daemon.store.models import IncidentStatus, ReportLinkKey
from tests.slack.scenario import detect, outbox, run_of, slack_config, with_slack, write_data
from tests.slack.served import served

TOKEN = {"Authorization": "Bearer api-secret"}  # slack_config's http.api_token
DOCS = ("/docs", "/redoc", "/openapi.json")
PROBES = ("/healthz", "/readyz", "/metrics")


def _config(tmp_path: Path, **http: Any) -> WardenConfig:
    """`slack_config` (Slack messages written to the outbox, not sent) with `http` changed."""
    config = slack_config(tmp_path, "http://127.0.0.1:9/api/")
    assert config.http is not None
    return config.model_copy(update={"http": config.http.model_copy(update=http)})


def _world(store: Store, tmp_path: Path, **http: Any) -> tuple[WardenConfig, int]:
    """An incident, routed, with its Slack message in the outbox."""
    write_data(tmp_path / "data")
    config = _config(tmp_path, **http)
    with_slack(store, config)
    (run_id,) = detect(store, config)
    return config, run_of(store, run_id).incident_id


def _report_links(store: Store) -> list[str]:
    """The report link of each incident message in the outbox (the post, then each
    update), oldest first."""
    return [
        element["url"]
        for message in outbox(store)
        if message.kind in ("post", "update")
        for block in message.payload.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("url")
    ]


def _path_and_query(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _signed(store: Store, incident_id: int, expires: int) -> str:
    with store.session(readonly=True) as session:
        key = link_key(session)
    return f"/incidents/{incident_id}?exp={expires}&sig={signature(key, incident_id, expires)}"


def _refused_without_evidence(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert text in response.text
    assert "binomial" not in response.text and "Timeline" not in response.text


def test_the_report_needs_a_signed_link_or_a_token(store, tmp_path):
    _config_, incident_id = _world(store, tmp_path)
    link = _report_links(store)[-1]
    assert link.startswith(f"https://warden.example.com/incidents/{incident_id}?exp=")
    query = parse_qs(urlsplit(link).query)
    expires = int(query["exp"][0])
    week = timedelta(days=7).total_seconds()
    assert time.time() + week - 120 < expires <= time.time() + week
    now = int(time.time())
    with served(store, _config_, None) as base:
        page = httpx.get(base + _path_and_query(link))
        assert page.status_code == 200 and "binomial" in page.text
        assert page.headers["cache-control"] == "private, no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert httpx.get(f"{base}/incidents/{incident_id}", headers=TOKEN).status_code == 200

        bare = httpx.get(f"{base}/incidents/{incident_id}")
        _refused_without_evidence(bare, 401, "needs a signed link")
        wrong = httpx.get(f"{base}/incidents/{incident_id}", headers={"Authorization": "Bearer x"})
        _refused_without_evidence(wrong, 401, "missing or wrong bearer token")
        sig = query["sig"][0]
        forged = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        for path, status, text in (
            (f"/incidents/{incident_id}?exp={expires}&sig={forged}", 403, "does not match"),
            (f"/incidents/{incident_id}?exp={expires + 1}&sig={sig}", 403, "does not match"),
            (f"/incidents/999?exp={expires}&sig={sig}", 403, "does not match"),
            (f"/incidents/{incident_id}?exp=soon&sig={sig}", 403, "malformed exp and sig"),
            (f"/incidents/{incident_id}?sig={sig}", 403, "malformed exp and sig"),
            (_signed(store, incident_id, now - 1), 403, "has expired"),
            (_signed(store, incident_id, now + int(week) + 3600), 403, "outlives"),
        ):
            _refused_without_evidence(httpx.get(base + path), status, text)
        # Existence is not told before authorisation: ids are sequential.
        assert httpx.get(f"{base}/incidents/999").status_code == 401
        assert httpx.get(base + _signed(store, 999, now + 60)).status_code == 404
        assert httpx.get(f"{base}/incidents/999", headers=TOKEN).status_code == 404


def test_links_are_signed_once_a_person_has_a_token_and_plain_without_any(store, tmp_path):
    config, incident_id = _world(store, tmp_path, api_token=None)
    plain = _report_links(store)[-1]
    assert plain == f"https://warden.example.com/incidents/{incident_id}"
    with served(store, config, None) as base:
        assert httpx.get(f"{base}/incidents/{incident_id}").status_code == 200  # open, as before
        with store.session() as session:
            _token, secret = create_token(session, "alice-laptop", "alice", created_by="root")
        assert httpx.get(f"{base}/incidents/{incident_id}").status_code == 401
        with store.session() as session:  # an update re-renders the message: a signed link
            change_status(session, incident_id, IncidentStatus.acknowledged, actor="alice")
        signed = _report_links(store)[-1]
        assert "?exp=" in signed and "&sig=" in signed
        assert httpx.get(base + _path_and_query(signed)).status_code == 200
        bearer = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{base}/incidents/{incident_id}", headers=bearer).status_code == 200


def test_warden_link_key_signs_the_links_when_set(store, tmp_path, monkeypatch):
    monkeypatch.setenv(LINK_KEY_VARIABLE, "a key kept outside the store")
    config, incident_id = _world(store, tmp_path)
    link = _report_links(store)[-1]
    query = parse_qs(urlsplit(link).query)
    expires = int(query["exp"][0])
    key = b"a key kept outside the store"
    assert query["sig"] == [signature(key, incident_id, expires)]
    with store.session(readonly=True) as session:
        stored = bytes.fromhex(session.exec(select(ReportLinkKey.key)).one())
    with served(store, config, None) as base:
        assert httpx.get(base + _path_and_query(link)).status_code == 200
        by_store = f"/incidents/{incident_id}?exp={expires}&sig="
        by_store += signature(stored, incident_id, expires)
        assert httpx.get(base + by_store).status_code == 403
        monkeypatch.setenv(LINK_KEY_VARIABLE, "rotated")  # changing the key revokes links
        assert httpx.get(base + _path_and_query(link)).status_code == 403


def test_the_report_leaves_out_the_daemon_host_and_pid(store, tmp_path):
    config, incident_id = _world(store, tmp_path)
    daemon = new_identity()  # host:pid:token, as `warden run` records itself
    with store.session() as session:
        change_status(session, incident_id, IncidentStatus.acknowledged, actor=daemon)
    host, pid, token = daemon.split(":")
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    with served(store, config, None) as base:
        page = httpx.get(f"{base}/incidents/{incident_id}", headers=TOKEN).text
        assert f"warden daemon {token}" in page and "incident.acknowledged" in page
        assert f"{host}:{pid}" not in page
        # The audit trail, behind a token, keeps the full identity.
        detail = httpx.get(f"{base}/api/incidents/{incident_id}", headers=TOKEN).json()
        assert daemon in [event["actor"] for event in detail["timeline"]]


@pytest.mark.parametrize(
    ("public", "open_paths"),
    [
        (None, PROBES),  # the default: healthz, readyz, metrics
        (["healthz", "docs"], ("/healthz", *DOCS)),
        ([], ()),
    ],
    ids=["default", "healthz-and-docs", "none"],
)
def test_metrics_docs_and_probes_follow_public_endpoints(store, tmp_path, public, open_paths):
    http = {} if public is None else {"public_endpoints": public}
    config = _config(tmp_path, **http)
    with served(store, config, None) as base:
        for path in (*PROBES, *DOCS):
            expected = 200 if path in open_paths else 401
            assert httpx.get(base + path).status_code == expected, path
            assert httpx.get(base + path, headers=TOKEN).status_code == 200, path
    # With no token configured at all, everything is open, whatever the list says.
    with served(store, _config(tmp_path, api_token=None, **http), None) as base:
        for path in (*PROBES, *DOCS):
            assert httpx.get(base + path).status_code == 200, path
