"""The Slack app manifest asks for exactly the scopes Warden uses and sends clicks to the
path the daemon serves."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "config" / "slack-app-manifest.yaml"


def _manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_the_bot_asks_for_exactly_the_scopes_warden_uses():
    scopes = _manifest()["oauth_config"]["scopes"]

    assert sorted(scopes["bot"]) == sorted(
        ["chat:write", "chat:write.public", "channels:history", "groups:history", "usergroups:read"]
    )
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert "user" not in scopes  # Warden never acts as a person


def test_clicks_go_to_the_slack_actions_path():
    manifest = _manifest()
    interactivity = manifest["settings"]["interactivity"]

    assert interactivity["is_enabled"] is True
    url = urlsplit(interactivity["request_url"])
    assert url.scheme == "https"
    assert url.path == "/slack/actions"


def test_the_app_is_a_single_workspace_bot_named_warden():
    manifest = _manifest()

    assert manifest["_metadata"] == {"major_version": 1}
    assert manifest["display_information"]["name"] == "Warden"
    assert manifest["features"]["bot_user"]["display_name"] == "Warden"
    assert manifest["settings"]["org_deploy_enabled"] is False
    assert manifest["settings"]["token_rotation_enabled"] is False
    assert manifest["settings"]["socket_mode_enabled"] is False
