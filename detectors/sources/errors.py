"""What can go wrong when reading a dataset (light: no engine imports)."""

from __future__ import annotations

from dataclasses import dataclass


class SourceError(Exception):
    """The dataset cannot be read at all (missing path, unreachable database, no time column)."""


@dataclass(frozen=True)
class UnreadableFile:
    """A file of the dataset that could not be read (reported as `corrupt_partition`)."""

    path: str
    reason: str
