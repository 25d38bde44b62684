"""The base of every config section, and the messages for a misspelt key or name: unknown
keys and names are errors that suggest the right one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


class ConfigModel(BaseModel):
    """Base of every config section: unknown keys are errors, with a suggestion."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = set(cls.model_fields)
            unknown = sorted(str(key) for key in data if key not in allowed)
            if unknown:
                raise PydanticCustomError(
                    "unknown_keys",
                    unknown_keys_message(unknown, sorted(allowed)),
                    {"keys": unknown},
                )
        return data


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice most like `name` (a likely typo of it), or None when none is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1)
    return matches[0] if matches else None


def unknown_keys_message(unknown: list[str], allowed: list[str]) -> str:
    """`unknown key 'shedule' (did you mean 'schedule'?); allowed here: ...`"""
    parts = []
    for key in unknown:
        suggestion = closest(key, allowed)
        parts.append(f"{key!r} (did you mean {suggestion!r}?)" if suggestion else repr(key))
    noun = "key" if len(unknown) == 1 else "keys"
    return f"unknown {noun} {', '.join(parts)}; allowed here: {', '.join(allowed)}"


def unknown_name_message(
    noun: str, name: str, known: Sequence[str], *, known_label: str = "defined"
) -> str:
    """A value that must name one of `known`:
    `unknown dataset 'lonas' (defined: fraud, loans); did you mean 'loans'?`"""
    listed = f"{known_label}: {', '.join(known)}" if known else f"none {known_label}"
    message = f"unknown {noun} {name!r} ({listed})"
    suggestion = closest(name, known)
    return f"{message}; did you mean {suggestion!r}?" if suggestion else message
