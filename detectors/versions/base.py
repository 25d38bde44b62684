"""A dataset version: the id of what one scan read, and what stands behind the id.

Four kinds, one per way a dataset is stored:

- ``files`` (Parquet, CSV, binary assets): the id is a hash of a manifest of the files in
  the scan's windows (path, size, modification time, and a Parquet footer digest or a
  content hash where Warden has one); the manifest is kept beside it (`file_manifest`).
- ``delta``: the Delta table's version number, as text (`detectors.sources.delta`).
- ``iceberg``: the Iceberg snapshot id, as text (64-bit: kept a string in JSON).
- ``sql``: a fingerprint of the scan's window computed in the engine, a row count and an
  order-independent sum of row hashes (`sql_fingerprint`). It tells whether the window's
  rows changed between two scans, not which rows; it is a fingerprint, not a proof.

A version is persisted (the store's `dataset_version` rows), so it carries
`SCHEMA_VERSION` and round-trips through `to_dict` / `from_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

VersionKind = Literal["files", "delta", "iceberg", "sql"]
VERSION_KINDS: tuple[VersionKind, ...] = ("files", "delta", "iceberg", "sql")

#: Bumped when the meaning of `details` changes; older records are read as they were.
SCHEMA_VERSION = 1

#: The most files a version keeps listed in its details (each entry is about 150 bytes in
#: the store). A version of more files keeps its counts and totals, and `files_listed:
#: false` instead of the list: `versions diff` and lineage impact then say they cannot
#: compare its files, rather than compare a part of them.
MAX_LISTED_FILES = 10_000

#: Characters of a hash kept in a `files` or `sql` version id: 64 bits, as Git's short ids
#: are shorter still; the full digest is in the details.
SHORT_ID = 16


@dataclass(frozen=True)
class DatasetVersion:
    """What one scan read of one dataset.

    `version` is the id (`dataset_version` in `warden scan --json`); `details` what it
    stands for, by kind: the manifest's entries, the table version's commit, the window
    fingerprints. `schema` maps column name -> engine type, for `versions diff`.
    """

    version: str
    kind: VersionKind
    details: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.version or not isinstance(self.version, str):
            raise ValueError("a dataset version needs a non-empty text id")
        if self.kind not in VERSION_KINDS:
            raise ValueError(f"unknown version kind {self.kind!r}; known: {VERSION_KINDS}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "version": self.version,
            "kind": self.kind,
            "details": self.details,
            "schema": self.schema,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetVersion:
        """What `to_dict` wrote; raises ValueError for anything else."""
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError("not a dataset version record of this schema version")
        return cls(str(data["version"]), data["kind"], dict(data["details"]), dict(data["schema"]))


def listed_files(files: list[dict[str, Any]]) -> dict[str, Any]:
    """The `files` entry of a version's details (and `files_listed`), within
    `MAX_LISTED_FILES`."""
    if len(files) > MAX_LISTED_FILES:
        return {"files_listed": False}
    return {"files_listed": True, "files": files}
