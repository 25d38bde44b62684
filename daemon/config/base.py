"""The base of every config section: unknown keys are errors that suggest the right one."""

from __future__ import annotations

import difflib
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


def unknown_keys_message(unknown: list[str], allowed: list[str]) -> str:
    """`unknown key 'shedule' (did you mean 'schedule'?); allowed here: ...`"""
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, allowed, n=1)
        parts.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    noun = "key" if len(unknown) == 1 else "keys"
    return f"unknown {noun} {', '.join(parts)}; allowed here: {', '.join(allowed)}"
