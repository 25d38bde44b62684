"""What a playbook needs of a table with versions of its own (Delta Lake, Iceberg).

A quarantine of such a table is a commit that removes the data files holding the bad
rows; its release is a commit that adds exactly those files back (not a restore of the
whole table, which would drop what was appended since); `restore_version` makes an
earlier version current again. The files themselves never move: a removed file stays on
disk, read by time travel, until the table's own clean-up (Delta `vacuum`, Iceberg
snapshot expiry) deletes it; a release whose files are gone is refused.

Every commit Warden makes carries `warden.action`, `warden.incident` and `warden.plan`
(the plan's hash) in its commit metadata (Delta) or snapshot properties (Iceberg), so
`versions diff` and the table's own history say who changed it and why, and an apply
that crashed after its commit finds the commit and does not make it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: Commit metadata keys Warden writes.
ACTION_KEY = "warden.action"
INCIDENT_KEY = "warden.incident"
PLAN_KEY = "warden.plan"


@dataclass(frozen=True)
class TableFile:
    """A data file of a table version: its path as the table names it (relative to a Delta
    table, a URI for Iceberg), where it lies on this machine, its size in bytes and rows,
    and what re-adding it needs (`entry`: JSON-safe, kept in the plan)."""

    path: str
    local_path: str
    size: int
    rows: int
    entry: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "local_path": self.local_path,
            "size": self.size,
            "rows": self.rows,
            "entry": self.entry,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableFile:
        return cls(
            str(data["path"]),
            str(data["local_path"]),
            int(data["size"]),
            int(data["rows"]),
            dict(data.get("entry") or {}),
        )


def marker(action: str, incident_id: int, plan_hash: str) -> dict[str, str]:
    """The commit metadata of one of Warden's commits."""
    return {ACTION_KEY: action, INCIDENT_KEY: str(incident_id), PLAN_KEY: plan_hash}


class TableChanged(RuntimeError):
    """The table is not as the plan found it (a file rewritten or gone, another version
    current): the change is refused, nothing is committed."""


class VersionedTable(Protocol):
    """One Delta or Iceberg table, opened for remediation."""

    #: "delta" or "iceberg"
    kind: str

    def current_version(self) -> str:
        """The id of the table's current version (a Delta version, an Iceberg snapshot)."""

    def files(self, version: str | None = None) -> list[TableFile]:
        """The data files of `version` (the current one without it)."""

    def has_version(self, version: str) -> bool:
        """Whether `version` is a version of this table that can still be read."""

    def previous(self, version: str) -> str | None:
        """The version `version` was made from (None for the first)."""

    def committed(self, metadata: dict[str, str], since: str) -> str | None:
        """The id of a version after `since` whose commit carries `metadata` (a commit
        Warden made already), or None."""

    def remove(self, paths: list[str], metadata: dict[str, str]) -> str:
        """Commit the removal of these files (each must be in the current version, else
        `TableChanged`); returns the new version."""

    def add(self, files: list[TableFile], metadata: dict[str, str]) -> str:
        """Commit these files back (none may be in the current version); returns the new
        version."""

    def restore(self, version: str, metadata: dict[str, str]) -> str:
        """Make `version`'s content current; returns the version now current."""


def rows_in_window(
    files: list[TableFile],
    time_column: str,
    start: datetime,
    end: datetime,
    *,
    hive: bool,
) -> dict[str, int]:
    """How many rows of [start, end) each file holds (only files holding some), counted by
    DuckDB over the files (a partition column read from hive folders when `hive`)."""
    from detectors.sources.files import raw_duckdb_connection

    if not files:
        return {}
    by_local = {item.local_path: item.path for item in files}
    listed = ", ".join("'" + path.replace("'", "''") + "'" for path in by_local)
    column = '"' + time_column.replace('"', '""') + '"'
    connection = raw_duckdb_connection()
    try:
        rows = connection.execute(
            f"SELECT filename, count(*) FROM read_parquet([{listed}], filename = true, "
            f"hive_partitioning = {str(hive).lower()}, union_by_name = true) "
            f"WHERE CAST({column} AS TIMESTAMPTZ) >= ? AND CAST({column} AS TIMESTAMPTZ) < ? "
            "GROUP BY filename",
            [start, end],
        ).fetchall()
    finally:
        connection.close()
    return {by_local[name]: int(count) for name, count in rows if name in by_local}
