"""A small world for the Slack tests: a dataset with a bad day, a config with Slack pointed
at the fake, and helpers that detect, dispatch and click as the daemon and people would."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slack_sdk import WebClient
from sqlmodel import col, select

from daemon.config.models import WardenConfig
from daemon.slack.dispatcher import dispatch_once
from daemon.slack.render import APPROVE_ACTION, REJECT_ACTION, REJECT_VIEW, SILENCE_ACTION
from daemon.slack.service import install_outbox_writer, web_client
from daemon.store.engine import Store
from daemon.store.models import OutboxMessage, PlaybookRun

# Re-exported: the Slack tests take the whole world from here.
from tests.remediation_world import DAY, NULLS, detect, write_data  # noqa: F401

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APPROVERS = ("U0ALICE", "U0BOB")
GROUP, GROUP_MEMBER = "S0ONCALL", "U0CAROL"
OUTSIDER = "U0MALLORY"
CHANNEL = "#ml-oncall"


def slack_config(
    tmp_path: Path, api_url: str, *, approval: str = "human", **slack: Any
) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {
                "events": {"format": "parquet", "path": str(tmp_path / "data"), "time_column": "ts"}
            },
            "routes": [
                {"match": {"pattern": "null_spike"}, "playbook": "quarantine", "approval": approval}
            ],
            "playbooks": {"work_root": str(tmp_path / "work")},
            "slack": {
                "bot_token": "xoxb-test",
                "signing_secret": SIGNING_SECRET,
                "channel": CHANNEL,
                "approvers": list(APPROVERS),
                "approver_groups": [GROUP],
                "api_url": api_url,
                **slack,
            },
            "http": {"api_token": "api-secret", "public_url": "https://warden.example.com"},
        }
    )


def with_slack(store: Store, config: WardenConfig) -> Store:
    install_outbox_writer(store, config)
    return store


def client_for(config: WardenConfig) -> WebClient:
    assert config.slack is not None
    return web_client(config.slack)


def drain(store: Store, config: WardenConfig, rounds: int = 20) -> None:
    """Dispatch until nothing is due (what the daemon's dispatcher loop does)."""
    client = client_for(config)
    for _ in range(rounds):
        if not dispatch_once(store, client):
            return
    raise AssertionError("the outbox did not drain")


def outbox(store: Store) -> list[OutboxMessage]:
    with store.session(readonly=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def run_of(store: Store, run_id: int) -> PlaybookRun:
    with store.session(readonly=True) as session:
        run = session.get(PlaybookRun, run_id)
        assert run is not None
        return run


# -- what Slack sends ---------------------------------------------------------------------


def click(
    action_id: str,
    value: dict[str, Any],
    *,
    user: str = APPROVERS[0],
    team: str = "T0FAKE",
    channel: str = "C0ONCALL1",
    action_ts: str | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload as Slack sends it for a button click."""
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "channel": {"id": channel, "name": "ml-oncall"},
        "trigger_id": f"trigger-{time.monotonic_ns()}",
        "response_url": "https://hooks.slack.invalid/actions/x",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "warden_incident_1",
                "value": json.dumps(value),
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }


def approve_click(run: PlaybookRun, **kwargs: Any) -> dict[str, Any]:
    return click(APPROVE_ACTION, {"run": run.id, "hash": run.plan_hash}, **kwargs)


def reject_click(run: PlaybookRun, **kwargs: Any) -> dict[str, Any]:
    return click(REJECT_ACTION, {"run": run.id, "hash": run.plan_hash}, **kwargs)


def silence_click(incident_id: int, **kwargs: Any) -> dict[str, Any]:
    return click(SILENCE_ACTION, {"incident": incident_id}, **kwargs)


def reason_submission(
    run: PlaybookRun, reason: str, *, user: str = APPROVERS[0], channel: str = "C0ONCALL1"
) -> dict[str, Any]:
    """A `view_submission` of the reject dialog."""
    return {
        "type": "view_submission",
        "team": {"id": "T0FAKE"},
        "user": {"id": user, "team_id": "T0FAKE"},
        "view": {
            "id": f"V{run.id}",
            "hash": f"{time.monotonic_ns()}.h",
            "callback_id": REJECT_VIEW,
            "private_metadata": json.dumps(
                {"run": run.id, "hash": run.plan_hash, "channel": channel}
            ),
            "state": {
                "values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}
            },
        },
    }


def signed(
    payload: dict[str, Any], *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The form body Slack posts and its signature headers (v0: HMAC-SHA256 of
    `v0:<timestamp>:<body>` with the signing secret)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
