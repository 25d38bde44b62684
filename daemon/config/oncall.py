"""Config sections for on-call: PagerDuty, escalation policies and incident grouping.

```yaml
pagerduty:
  routing_key: ${PAGERDUTY_ROUTING_KEY}                     # never written in the file
  events_url: https://events.pagerduty.com/v2/enqueue       # default; overridable
escalations:
  - name: default
    match: {severity: [critical, warning]}   # matchers as in routes; first match wins
    steps:
      - {after: 0m, page: pagerduty}
      - {after: 15m, notify: "#ml-oncall-leads", mention: S0614TZR7}
    remind_every: 4h                          # while acknowledged but unresolved; >= 15m
```

A step waits `after` (counted from when the group's escalation started, time held by a
silence excluded), then does one thing: `page: pagerduty`, `notify` another channel
(optionally mentioning `mention`), or `mention` alone (a reply in the incident's thread
mentioning a user group or a user). A step fires only while nobody has acknowledged
(`until: acknowledged`, the default) or while unresolved (`until: resolved`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from daemon.config.base import ConfigModel
from daemon.config.routing import RouteMatch
from detectors.params import Duration, Wait

#: The shortest reminder interval (no pager storms); `daemon.incidents.escalation` agrees.
REMIND_FLOOR = timedelta(minutes=15)
#: The longest a PagerDuty request may take: far below the outbox lease (60 s), so an old
#: request can never land after a newer event of the same alert.
MAX_PAGE_TIMEOUT = timedelta(seconds=20)
#: A Slack channel id (C…, G…) or a name (#…); ids are safer (names can be renamed).
CHANNEL = re.compile(r"^([CG][A-Z0-9]{2,}|#[a-z0-9][a-z0-9_\-]{0,79})$")
#: A Slack user group (S…) or user (U…, W…) id.
MENTION = re.compile(r"^[SUW][A-Z0-9]{2,}$")
#: PagerDuty's integration keys are 32 characters of letters and digits.
ROUTING_KEY = re.compile(r"^[A-Za-z0-9]{32}$")


class PagerDutyConfig(ConfigModel):
    """Where pages go: an Events API v2 integration of a PagerDuty service."""

    routing_key: SecretStr = Field(
        description="The integration key of an Events API v2 integration (32 characters), "
        "from ${PAGERDUTY_ROUTING_KEY} or WARDEN_PAGERDUTY__ROUTING_KEY; never in the file."
    )
    events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue",
        description="The Events API v2 enqueue URL (EU accounts: "
        "https://events.eu.pagerduty.com/v2/enqueue).",
    )
    timeout: Duration = Field(
        default_factory=lambda: timedelta(seconds=10),
        description="How long one request may take (default 10s, at most 20s).",
    )

    @field_validator("routing_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        if not ROUTING_KEY.match(value.get_secret_value()):
            raise ValueError(
                "a PagerDuty routing key is the 32-character Integration Key of an Events API "
                "v2 integration (Service → Integrations)"
            )
        return value

    @field_validator("events_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"`events_url` must be an http:// or https:// URL, not {value!r}")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= MAX_PAGE_TIMEOUT:
            raise ValueError(f"must be between 1s and {int(MAX_PAGE_TIMEOUT.total_seconds())}s")
        return value


class EscalationStep(ConfigModel):
    """Wait `after`, then page, notify a channel, or mention someone in the thread."""

    after: Wait = Field(description="Wait from the start of the escalation, like 15m.")
    page: Literal["pagerduty"] | None = Field(None, description="Page through PagerDuty.")
    notify: str | None = Field(
        None, description="Post to another channel: an id (C…) or a name (#ml-oncall-leads)."
    )
    mention: str | None = Field(
        None,
        description="A user group (S…) or user (U…) to mention: in `notify`'s post, or alone "
        "as a reply in the incident's thread.",
    )
    until: Literal["acknowledged", "resolved"] = Field(
        "acknowledged",
        description="Fire only while unacknowledged (default), or while unresolved.",
    )

    @model_validator(mode="after")
    def _one_action(self) -> EscalationStep:
        if self.after < timedelta(0):
            raise ValueError("`after` cannot be negative")
        if self.page is not None and (self.notify or self.mention):
            raise ValueError("a step pages, or notifies / mentions: split it into two steps")
        if self.page is None and not self.notify and not self.mention:
            raise ValueError(
                "a step needs one of `page: pagerduty`, `notify: <channel>`, `mention`"
            )
        if self.notify is not None and not CHANNEL.match(self.notify):
            raise ValueError(
                f"`notify` {self.notify!r} is not a Slack channel id (C…, G…) or name (#name)"
            )
        if self.mention is not None and not MENTION.match(self.mention):
            raise ValueError(
                f"`mention` {self.mention!r} is not a Slack user group id (S…) or user id "
                "(U…); `warden slack test` lists the groups"
            )
        return self

    @property
    def action(self) -> str:
        """`page`, `notify` or `mention` (`daemon.incidents.escalation.Step.action`)."""
        if self.page is not None:
            return "page"
        return "notify" if self.notify else "mention"


class EscalationPolicy(ConfigModel):
    """What happens while a group of incidents stays unacknowledged."""

    name: str = Field(min_length=1, max_length=100, description="Shown in the audit trail.")
    match: RouteMatch = Field(
        default_factory=RouteMatch, description="As in routes (default: everything)."
    )
    steps: list[EscalationStep] = Field(min_length=1, max_length=20)
    remind_every: Duration | None = Field(
        None,
        description="While acknowledged but unresolved, remind in the thread this often "
        "(at least 15m; default: never).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        afters = [step.after for step in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in order of `after`")
        if self.remind_every is not None and self.remind_every < REMIND_FLOOR:
            raise ValueError("`remind_every` is at least 15m (no pager storms)")
        return self


def escalation_problems(
    policies: list[EscalationPolicy], *, has_pagerduty: bool, has_slack: bool
) -> list[str]:
    """Problems across sections: a page with no `pagerduty:`, a `pagerduty:` no step pages,
    a notify with no Slack (names used twice and unknown monitors are
    `daemon.config.names`'s)."""
    problems: list[str] = []
    pages = any(step.page for policy in policies for step in policy.steps)
    if has_pagerduty and not pages:
        problems.append(
            "pagerduty: is configured, but no escalation step pages it, so nothing would: add "
            "a policy to `escalations:` with a step like `{after: 0m, page: pagerduty}`"
        )
    for index, policy in enumerate(policies):
        where = f"escalations[{index}]"
        for number, step in enumerate(policy.steps):
            if step.page is not None and not has_pagerduty:
                problems.append(
                    f"{where}.steps[{number}]: pages PagerDuty, but there is no `pagerduty:` "
                    "section (add it with routing_key: ${PAGERDUTY_ROUTING_KEY})"
                )
            if step.page is None and not has_slack:
                problems.append(
                    f"{where}.steps[{number}]: notifies Slack, but there is no `slack:` section"
                )
    return problems
