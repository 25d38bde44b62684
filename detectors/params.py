"""Pydantic field types shared by detector parameter models.

Detector parameters are validated where they enter (the config loader embeds these models),
so a bad threshold is reported with its place in the file, not discovered mid-scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from detectors.timeparse import (
    DURATION_PATTERN,
    format_duration,
    parse_duration,
    parse_end_instant,
    parse_instant,
    parse_wait,
)

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "An integer and a unit: s, m, h, d or w (15m, 2h, 7d).",
        }
    ),
]

#: A duration that may be zero ("at once"): an escalation step's `after`, a group window.
Wait = Annotated[
    timedelta,
    BeforeValidator(parse_wait),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "An integer and a unit: s, m, h, d or w (0m, 15m, 2h); 0 is at once.",
        }
    ),
]

Instant = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 8601 date or datetime; naive means UTC.",
        }
    ),
]

EndInstant = Annotated[
    datetime,
    BeforeValidator(parse_end_instant),
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": (
                "Exclusive end, ISO 8601; a bare date means through the end of that day."
            ),
        }
    ),
]


class StrictModel(BaseModel):
    """Base for every parameter model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
