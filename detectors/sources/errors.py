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


def time_column_type_error(
    dataset: str, column: str, type_name: str, *, accepted: str, convert: str
) -> SourceError:
    """The error for a time column whose type windows cannot be cut on.

    Epoch numbers are refused rather than guessed at: seconds, milliseconds and nanoseconds
    all look alike, and a wrong guess gives windows that are silently empty. `accepted`
    names the types the engine takes and `convert` says how to get there.
    """
    return SourceError(
        f"dataset {dataset!r}: time column {column!r} is {type_name}; "
        f"it must be {accepted} ({convert})"
    )
