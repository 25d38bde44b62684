"""The `people:` block: one person's names on each channel, so Warden knows them as one.

A decision is recorded under the name of the channel it came through: `slack:U012ABC` (a
Slack user id), `api:alice` (the HTTP API), or a bare login such as `alice` (the CLI's
`--as`, by default the operating system login). Under `two_person` the two approvals must
come from two different *people*, and without this block every such name is its own person,
so one engineer could approve once in Slack and once on the CLI. With it:

```yaml
people:
  alice: {slack: [U012ABC], cli: [alice, asmith]}
  bob: {slack: [U034DEF]}
```

`slack:U012ABC`, `alice`, `asmith` and `api:alice` are all alice. A person's own key also
counts as their name on the CLI and the API (a token made with `warden tokens create NAME
--person alice` decides as `api:alice`), so `bob` on the CLI and `api:bob` are bob without
listing them. A name may belong to one person only; names nobody lists stay distinct people,
as before. Merging names can only make `two_person` stricter, never looser.

>>> people = {"alice": PersonConfig(slack=["U012ABC"], cli=["asmith"])}
>>> [person_of(people, actor) for actor in ("slack:U012ABC", "asmith", "api:alice", "bob")]
['alice', 'alice', 'alice', None]
>>> same_person(people, "slack:U012ABC", "alice"), same_person(people, "bob", "api:bob")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema

from daemon.config.base import ConfigModel

Channel = Literal["slack", "cli", "api"]
CHANNELS: tuple[Channel, ...] = ("slack", "cli", "api")

#: A name on the CLI or the API (the shape the approval API accepts in `as`).
PERSON_NAME_PATTERN = r"^[A-Za-z0-9._@+-]+$"
#: A Slack user id, as Slack shows it (profile, ⋮, Copy member ID): U… or W….
SLACK_USER_ID_PATTERN = r"^[UW][A-Z0-9]{2,30}$"


def _person_name(value: str) -> str:
    if not re.match(PERSON_NAME_PATTERN, value) or len(value) > 100:
        raise ValueError(f"{value!r} is not a name: use 1-100 letters, digits and . _ @ + -")
    return value


def _slack_user_id(value: str) -> str:
    if not re.match(SLACK_USER_ID_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a Slack user id: write the id, like U012ABC (profile, "
            "⋮, Copy member ID), not a display name"
        )
    return value


PersonName = Annotated[
    str,
    AfterValidator(_person_name),
    WithJsonSchema(
        {"type": "string", "pattern": PERSON_NAME_PATTERN, "minLength": 1, "maxLength": 100}
    ),
]
SlackUserId = Annotated[
    str,
    AfterValidator(_slack_user_id),
    WithJsonSchema({"type": "string", "pattern": SLACK_USER_ID_PATTERN}),
]


class PersonConfig(ConfigModel):
    """One person's names on each channel (their key is their name on the CLI and API too)."""

    slack: list[SlackUserId] = Field(
        default_factory=list, description="Slack user ids, like U012ABC (Copy member ID)."
    )
    cli: list[PersonName] = Field(
        default_factory=list,
        description="CLI names (`--as`, default the login) besides the person's own key.",
    )
    api: list[PersonName] = Field(
        default_factory=list,
        description="HTTP API names (the shared token's `as`) besides the person's own key.",
    )


def channel_name(actor: str) -> tuple[Channel | None, str]:
    """The channel a recorded actor came through, and its name there.

    `slack:U1` and `api:alice` carry their channel; a bare name (`alice`) is the CLI's, and
    so is `cli:alice`. Anything else (`policy:auto`, `agent:remediation`, a daemon's
    `host:pid:token`) is no person's channel: (None, actor).

    >>> channel_name("slack:U1"), channel_name("alice"), channel_name("policy:ttl")
    (('slack', 'U1'), ('cli', 'alice'), (None, 'policy:ttl'))
    """
    prefix, colon, rest = actor.partition(":")
    if not colon:
        return "cli", actor
    if prefix in CHANNELS and rest and ":" not in rest:
        return prefix, rest  # type: ignore[return-value]  # checked against CHANNELS
    return None, actor


def person_of(people: Mapping[str, PersonConfig], actor: str) -> str | None:
    """The person `people` maps `actor` to, or None when no one claims that name."""
    channel, name = channel_name(actor)
    if channel is None:
        return None
    for person, names in people.items():
        if name in getattr(names, channel) or (channel != "slack" and name == person):
            return person
    return None


def identity(people: Mapping[str, PersonConfig], actor: str) -> str:
    """What tells people apart: `person:<key>` for a mapped actor, else the actor itself."""
    person = person_of(people, actor)
    return f"person:{person}" if person is not None else actor


def same_person(people: Mapping[str, PersonConfig], first: str, second: str) -> bool:
    """Whether two recorded actors are one person (equal, or mapped to the same key)."""
    return identity(people, first) == identity(people, second)


def people_problems(people: Mapping[str, PersonConfig]) -> list[str]:
    """Names claimed by two people (each would make the other's approvals theirs)."""
    owners: dict[tuple[Channel, str], str] = {}
    problems = []
    for person, names in people.items():
        claimed: list[tuple[Channel, str]] = [("cli", person), ("api", person)]
        claimed += [(channel, name) for channel in CHANNELS for name in getattr(names, channel)]
        for key in dict.fromkeys(claimed):  # a person may repeat their own key
            owner = owners.setdefault(key, person)
            if owner != person:
                channel, name = key
                problems.append(
                    f"{channel} name {name!r} belongs to both {owner!r} and {person!r} "
                    "(a person's key is also their cli and api name)"
                )
    return problems
