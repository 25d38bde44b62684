"""How the monitored columns become standardised numeric inputs (pure).

- a numeric column is one input, ``(x - mean) / std`` with the reference's mean and
  standard deviation; a null counts as the mean (input 0): missing values are the quality
  monitor's business, not a change of relations;
- a categorical column is one indicator per kept level (its reference's most frequent
  values, at most `max_categories`) plus one for everything else (rarer, unseen and null
  values), each standardised as ``(indicator - share) / sqrt(share * (1 - share))``.

A column that is constant or all null in the reference carries no relation to change and
would divide by zero: it is refused with a message naming it.

>>> from detectors.profile import ColumnProfile
>>> spec = encode_columns(
...     {"x": ColumnProfile("x", "numeric", "float64", rows=10, nulls=0, mean=2.0, std=0.5)},
...     max_categories=5,
... )
>>> spec.inputs[0].name, spec.inputs[0].center, spec.inputs[0].scale
('x', 2.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detectors.profile import OTHER_CATEGORY, ColumnProfile


class EncodingError(ValueError):
    """A column cannot be encoded (constant, all null, or of a kind PCA cannot use)."""


@dataclass(frozen=True)
class EncodedInput:
    """One standardised input: `column`'s value (numeric) or the indicator of `level`
    (categorical; None for the 'other' level), minus `center`, divided by `scale`."""

    name: str
    column: str
    kind: str  # "numeric" | "level" | "other"
    center: float
    scale: float
    level: str | None = None
    #: The kept levels of the column ('other' inputs: what they are not).
    levels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "kind": self.kind,
            "center": self.center,
            "scale": self.scale,
            "level": self.level,
            "levels": list(self.levels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncodedInput:
        return cls(
            name=str(data["name"]),
            column=str(data["column"]),
            kind=str(data["kind"]),
            center=float(data["center"]),
            scale=float(data["scale"]),
            level=data.get("level"),
            levels=tuple(data.get("levels") or ()),
        )


@dataclass(frozen=True)
class Encoding:
    """The inputs of every monitored column, in order."""

    inputs: tuple[EncodedInput, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item.column for item in self.inputs))

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [item.to_dict() for item in self.inputs]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Encoding:
        return cls(tuple(EncodedInput.from_dict(item) for item in data["inputs"]))


def encode_columns(profiles: Mapping[str, ColumnProfile], *, max_categories: int) -> Encoding:
    """The inputs of the reference columns `profiles` (in their order)."""
    inputs: list[EncodedInput] = []
    for name, column in profiles.items():
        if column.count == 0:
            raise EncodingError(f"column {name!r} is all null in the reference; remove it")
        if column.kind == "numeric":
            inputs.append(_numeric(name, column))
        elif column.kind == "categorical":
            inputs.extend(_levels(name, column, max_categories))
        else:
            raise EncodingError(
                f"column {name!r} is {column.kind} ({column.dtype}); multivariate drift "
                "takes numeric and categorical columns"
            )
    return Encoding(tuple(inputs))


def _numeric(name: str, column: ColumnProfile) -> EncodedInput:
    std = column.std
    if column.mean is None or std is None or not math.isfinite(std) or std <= 0:
        raise EncodingError(f"column {name!r} is constant in the reference; remove it")
    return EncodedInput(name, name, "numeric", float(column.mean), float(std))


def _levels(name: str, column: ColumnProfile, max_categories: int) -> list[EncodedInput]:
    counts = {
        level: count
        for level, count in (column.categories or {}).items()
        if level != OTHER_CATEGORY and count > 0
    }
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_categories]
    rows = column.rows
    kept = tuple(level for level, _count in ranked)
    inputs = []
    for index, (level, count) in enumerate(ranked):
        share = count / rows
        if share >= 1.0:
            raise EncodingError(f"column {name!r} is constant in the reference; remove it")
        inputs.append(
            EncodedInput(
                f"{name}={index}", name, "level", share, math.sqrt(share * (1 - share)), level
            )
        )
    other_rows = rows - sum(count for _level, count in ranked)  # integers: no rounding
    if other_rows > 0:
        other = other_rows / rows
        inputs.append(
            EncodedInput(
                f"{name}=other", name, "other", other, math.sqrt(other * (1 - other)), None, kept
            )
        )
    if len(inputs) < 2:
        raise EncodingError(f"column {name!r} is constant in the reference; remove it")
    return inputs
