"""Who may decide from Slack: the workspace, and an allowlist of users and user groups.

A click counts only when it comes from the workspace of Warden's own bot token (`auth.test`
gives its `team_id`) and from a user in `slack.approvers` or in one of `slack.approver_groups`
(members from `usergroups.users.list`). Both answers are cached for `CACHE_SECONDS`, so a
burst of clicks costs Slack one call; a person removed from a group is refused at most that
long after.

When Slack cannot be asked (it is down), `SlackUnavailable` is raised: the interaction stays
pending and is decided when Slack answers again, rather than being refused by mistake.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from daemon.config.models import SlackConfig

#: How long the workspace id and group members are trusted, in seconds.
CACHE_SECONDS = 300.0


class SlackUnavailable(RuntimeError):
    """Slack did not answer a lookup the decision depends on."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


class ApproverCheck:
    """Decides whether a Slack user of a workspace may approve, reject or silence."""

    def __init__(self, client: WebClient, settings: SlackConfig) -> None:
        self.client = client
        self.settings = settings
        self._lock = threading.Lock()
        self._team: tuple[float, str] | None = None
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    def check(self, user_id: str | None, team_id: str | None) -> Verdict:
        if not user_id:
            return Verdict(False, "the request names no user")
        own_team = self.team_id()
        if team_id != own_team:
            return Verdict(False, f"the request comes from workspace {team_id}, not {own_team}")
        if user_id in self.settings.approvers:
            return Verdict(True, "listed in slack.approvers")
        for group in self.settings.approver_groups:
            if user_id in self.group_members(group):
                return Verdict(True, f"member of user group {group}")
        return Verdict(
            False,
            f"{user_id} is not an approver (slack.approvers / slack.approver_groups)",
        )

    def team_id(self) -> str:
        with self._lock:
            if self._team is not None and time.monotonic() - self._team[0] < CACHE_SECONDS:
                return self._team[1]
        try:
            team = str(self.client.auth_test()["team_id"])
        except (SlackApiError, OSError) as error:
            raise SlackUnavailable(f"auth.test failed: {error}") from error
        with self._lock:
            self._team = (time.monotonic(), team)
        return team

    def group_members(self, group: str) -> frozenset[str]:
        with self._lock:
            cached = self._groups.get(group)
            if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
                return cached[1]
        try:
            users = self.client.usergroups_users_list(usergroup=group).get("users") or []
        except SlackApiError as error:
            if error.response.get("error") in ("no_such_subteam", "subteam_not_found"):
                users = []  # a group that no longer exists has no members
            else:
                raise SlackUnavailable(f"usergroups.users.list failed: {error}") from error
        except OSError as error:
            raise SlackUnavailable(f"usergroups.users.list failed: {error}") from error
        members = frozenset(str(user) for user in users)
        with self._lock:
            self._groups[group] = (time.monotonic(), members)
        return members
