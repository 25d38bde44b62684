"""What can go wrong when reading a dataset (light: no engine imports)."""

from __future__ import annotations

from dataclasses import dataclass


class SourceError(Exception):
    """The dataset cannot be read at all (missing path, unreachable database, no time column).

    What `warden validate-config` needs to point at the config, all optional:

    - `key`: the dataset's config key at fault (`path`, `url`, `table`, `time_column`,
      `entity_column`, `time_format`), None when the cause is elsewhere;
    - `columns`: the data's columns (name -> engine type) when they could be read before
      the problem was found, so a caller can go on checking other names against them;
    - `missing`: the column not found, when that is the problem.

    One class, not subclasses, so every handler that maps `SourceError` keeps working;
    keyword defaults keep it picklable between processes.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        columns: dict[str, str] | None = None,
        missing: str | None = None,
    ):
        super().__init__(message)
        self.key = key
        self.columns = None if columns is None else dict(columns)
        self.missing = missing


def missing_column_error(
    dataset: str, role: str, column: str, columns: dict[str, str], *, where: str = "the data"
) -> SourceError:
    """The error for a time or entity column that the data does not have."""
    return SourceError(
        f"dataset {dataset!r}: {role} column {column!r} is not in {where}; "
        f"columns are: {', '.join(columns)}",
        key=f"{role}_column",
        columns=columns,
        missing=column,
    )


@dataclass(frozen=True)
class UnreadableFile:
    """A file of the dataset that could not be read (reported as `corrupt_partition`)."""

    path: str
    reason: str


def time_column_type_error(
    dataset: str,
    column: str,
    type_name: str,
    *,
    accepted: str,
    convert: str,
    columns: dict[str, str] | None = None,
) -> SourceError:
    """The error for a time column whose type windows cannot be cut on.

    Epoch numbers are refused rather than guessed at: seconds, milliseconds and nanoseconds
    all look alike, and a wrong guess gives windows that are silently empty. `accepted`
    names the types the engine takes and `convert` says how to get there.
    """
    return SourceError(
        f"dataset {dataset!r}: time column {column!r} is {type_name}; "
        f"it must be {accepted} ({convert})",
        key="time_column",
        columns=columns,
    )


def mask_password(url: str) -> str:
    """A URL with any password replaced, safe to print.

    >>> mask_password("postgresql://warden:s3cret@db:5432/x")
    'postgresql://warden:***@db:5432/x'
    """
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def first_line(error: BaseException) -> str:
    """An exception's first line of text (its class name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
