"""`warden slack test`: does the Slack setup work, and if not, what to change.

Each check talks to Slack's Web API with the config's bot token and says what it found and,
when it fails, what to do:

- `token`: `auth.test` accepts the token (bot user, team);
- `scopes`: the token's scopes (Slack's `x-oauth-scopes` answer header) hold what Warden
  uses: `chat:write`, `channels:history`, `groups:history` (finding its own message after a
  crash), `usergroups:read` when approver groups are set; `chat:write.public` is optional;
- `channel <C>`: for the default channel, every route's and every escalation step's: the bot
  can read the channel's
  history, which it can only as a member (`not_in_channel`: invite it) of a channel that
  exists (`channel_not_found`); a channel given by name cannot be checked, and is a
  warning: Warden needs ids to find its messages after a crash;
- `user group <S>`: each `approver_groups` id, and each group an escalation step mentions,
  is a user group of the workspace;
- `post`: a test message in the default channel (unless told not to).

A check is `ok`, `warning` or `failed`; nothing is written to the store.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from daemon.config.models import WardenConfig

REQUIRED_SCOPES = ("chat:write", "channels:history", "groups:history")
GROUP_SCOPE = "usergroups:read"
OPTIONAL_SCOPES = ("chat:write.public",)
#: A channel id (public C..., private G..., a direct message D...).
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


@dataclass(frozen=True)
class Check:
    name: str
    outcome: str  # "ok" | "warning" | "failed"
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.name, "outcome": self.outcome, "detail": self.detail, "fix": self.fix}


def run_checks(client: Any, config: WardenConfig, *, post: bool) -> list[Check]:
    """Every check, in order; later checks are skipped when the token is refused."""
    from slack_sdk.errors import SlackApiError

    slack = config.slack
    assert slack is not None
    checks: list[Check] = []
    try:
        identity = client.auth_test()
    except SlackApiError as error:
        code = _code(error)
        return [
            Check(
                "token",
                "failed",
                f"Slack refused the bot token ({code})",
                "give the Bot User OAuth Token (xoxb-...) of the installed app as "
                "slack.bot_token (for example ${SLACK_BOT_TOKEN})",
            )
        ]
    except OSError as error:
        return [
            Check(
                "token",
                "failed",
                f"Slack's API could not be reached: {error}",
                "check the network, a proxy, or slack.api_url",
            )
        ]
    bot = identity.get("user_id", "?")
    checks.append(
        Check(
            "token", "ok", f"bot user {bot} ({identity.get('user')}) in team {identity.get('team')}"
        )
    )
    groups = _groups_named(config)
    checks.append(_scopes(identity, bool(groups)))
    for channel in _channels(config):
        checks.append(_channel(client, channel, bot))
    if groups:
        checks.extend(_groups(client, groups))
    if post and slack.channel:
        checks.append(_post(client, slack.channel))
    return checks


def _code(error: Any) -> str:
    response = getattr(error, "response", None)
    try:
        return str(response["error"]) if response is not None else str(error)
    except (KeyError, TypeError):
        return str(error)


def _scopes(identity: Any, groups: bool) -> Check:
    header = {key.lower(): value for key, value in (identity.headers or {}).items()}
    granted = {scope.strip() for scope in header.get("x-oauth-scopes", "").split(",") if scope}
    if not granted:
        return Check("scopes", "warning", "Slack did not say which scopes the token has")
    needed = [*REQUIRED_SCOPES, *([GROUP_SCOPE] if groups else [])]
    missing = [scope for scope in needed if scope not in granted]
    optional = [scope for scope in OPTIONAL_SCOPES if scope not in granted]
    if missing:
        return Check(
            "scopes",
            "failed",
            f"missing {', '.join(missing)} (the token has {', '.join(sorted(granted))})",
            "add them under OAuth & Permissions -> Bot Token Scopes (or use "
            "config/slack-app-manifest.yaml), then reinstall the app",
        )
    note = f"; without optional {', '.join(optional)}, invite the bot to public channels too"
    return Check("scopes", "ok", ", ".join(needed) + (note if optional else ""))


def _groups_named(config: WardenConfig) -> list[str]:
    """Approver groups and the user groups escalation steps mention."""
    assert config.slack is not None
    mentioned = [
        step.mention
        for policy in config.escalations
        for step in policy.steps
        if step.mention and step.mention.startswith("S")
    ]
    return list(dict.fromkeys([*config.slack.approver_groups, *mentioned]))


def _channels(config: WardenConfig) -> list[str]:
    assert config.slack is not None
    notified = [step.notify for policy in config.escalations for step in policy.steps]
    named = [config.slack.channel, *(route.channel for route in config.routes), *notified]
    return list(dict.fromkeys(channel for channel in named if channel))


def _channel(client: Any, channel: str, bot: str) -> Check:
    from slack_sdk.errors import SlackApiError

    name = f"channel {channel}"
    if not CHANNEL_ID.match(channel):
        return Check(
            name,
            "warning",
            "given by name: membership cannot be checked, and after a crash mid-post Warden "
            "cannot look its message up (it may post twice)",
            "give the channel's id (C0123...: the channel's About tab, at the bottom)",
        )
    try:
        client.conversations_history(channel=channel, limit=1)
    except SlackApiError as error:
        code = _code(error)
        fixes = {
            "not_in_channel": f"invite the bot: /invite <@{bot}> in the channel",
            "channel_not_found": "no such channel, or a private one the bot is not in: "
            "check the id, or invite the bot",
            "missing_scope": "add channels:history (public) or groups:history (private)",
        }
        return Check(name, "failed", f"Slack answered {code}", fixes.get(code, ""))
    return Check(name, "ok", "the bot is a member and can read it")


def _groups(client: Any, wanted: list[str]) -> list[Check]:
    from slack_sdk.errors import SlackApiError

    try:
        listed = client.usergroups_list()
    except SlackApiError as error:
        return [
            Check(
                "user groups",
                "failed",
                f"the user groups could not be listed ({_code(error)})",
                "add the usergroups:read scope and reinstall the app",
            )
        ]
    known = {group.get("id"): group.get("handle") for group in listed.get("usergroups", [])}
    return [
        Check(f"user group {group}", "ok", f"@{known[group]}")
        if group in known
        else Check(
            f"user group {group}",
            "failed",
            "no user group of the workspace has this id",
            "copy the id from the group's page (People -> User groups -> the group -> ⋮ -> "
            "Copy group ID); it starts with S",
        )
        for group in wanted
    ]


def _post(client: Any, channel: str) -> Check:
    from slack_sdk.errors import SlackApiError

    text = f"Warden test message from {socket.gethostname()}: Slack is set up."
    try:
        answer = client.chat_postMessage(channel=channel, text=text)
    except SlackApiError as error:
        return Check("post", "failed", f"posting to {channel} failed ({_code(error)})")
    return Check("post", "ok", f"posted to {channel} (ts {answer.get('ts')})")


def failed(checks: list[Check]) -> bool:
    return any(check.outcome == "failed" for check in checks)
