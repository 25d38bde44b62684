"""The registered playbooks, by name. A playbook registers itself with `@register` in its
own module; importing `playbooks` imports them all, so the registry is complete."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playbooks.base import Playbook

PLAYBOOKS: dict[str, Playbook] = {}


def register(cls: type[Playbook]) -> type[Playbook]:
    if cls.name in PLAYBOOKS:
        raise ValueError(f"playbook {cls.name!r} is registered twice")
    PLAYBOOKS[cls.name] = cls()
    return cls


def get_playbook(name: str) -> Playbook:
    import playbooks  # noqa: F401 - registers every playbook

    try:
        return PLAYBOOKS[name]
    except KeyError:
        known = ", ".join(sorted(PLAYBOOKS)) or "none"
        raise KeyError(f"unknown playbook {name!r}; registered: {known}") from None
