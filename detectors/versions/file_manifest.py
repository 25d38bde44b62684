"""The version of a file dataset: a manifest of its files, hashed.

Each entry is a file's path, size in bytes, modification time in nanoseconds and, where it
costs no data read, a digest of what is inside:

- a Parquet file's footer (its schema, row groups and their statistics), read from the
  end of the file: two small reads, never a data page (`footer_digest`). A file that is
  rewritten with other rows has another footer even when its size and time are kept;
- an asset file's sha256, which the assets monitor computes anyway.

The id is the first `SHORT_ID` hex characters of the sha256 of the sorted entries, so the
same files in another order, or found by another scan, give the same version. Paths are
kept as given (absolute for table files, relative to the dataset root for assets).

>>> entries = [ManifestEntry("b.parquet", 10, 5, "ab"), ManifestEntry("a.parquet", 3, 1, None)]
>>> version = manifest_version(entries)
>>> version.kind, version.version == manifest_version(entries[::-1]).version
('files', True)
>>> [entry["path"] for entry in version.details["files"]]
['a.parquet', 'b.parquet']
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from detectors.versions.base import SHORT_ID, DatasetVersion, listed_files

#: The largest Parquet footer digested, in bytes (a footer is usually kilobytes; one of
#: more than this is a file of very many row groups or columns, and is named by size and
#: time alone rather than read whole at every scan).
MAX_FOOTER_BYTES = 16 * 1024 * 1024
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a version: `digest` is a Parquet footer's or a content sha256, or None."""

    path: str
    size: int
    mtime_ns: int
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ManifestEntry:
        return cls(str(data["path"]), int(data["size"]), int(data["mtime_ns"]), data["digest"])


def footer_digest(path: str) -> str | None:
    """The sha256 of a Parquet file's footer, read from the file's last bytes (the 4-byte
    footer length and the magic, then the footer itself); None when the file is not a plain
    Parquet file (an encrypted footer's magic is PARE), is too short, or its footer is
    longer than `MAX_FOOTER_BYTES`. Raises OSError when the file cannot be read."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size < 12:
            return None
        handle.seek(size - 8)
        tail = handle.read(8)
        length, magic = struct.unpack("<I4s", tail)
        if magic != _PARQUET_MAGIC or length > min(size - 12, MAX_FOOTER_BYTES):
            return None
        handle.seek(size - 8 - length)
        return hashlib.sha256(handle.read(length)).hexdigest()


def stat_entry(path: str, *, parquet: bool) -> ManifestEntry | None:
    """A file's entry from one `stat` (and its footer, for Parquet); None when the file is
    gone. A footer that cannot be read leaves the digest empty: the scan reports the file
    as unreadable, and its size and time still name it."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    digest = None
    if parquet:
        try:
            digest = footer_digest(path)
        except OSError:
            digest = None
    return ManifestEntry(path, status.st_size, status.st_mtime_ns, digest)


def manifest_version(entries: Iterable[ManifestEntry], **details: Any) -> DatasetVersion:
    """The `files` version of these entries; `details` (the windows, how files were chosen)
    are kept beside the manifest but do not change the id."""
    ordered = sorted(entries, key=lambda entry: entry.path)
    lines = "\n".join(
        json.dumps([e.path, e.size, e.mtime_ns, e.digest], ensure_ascii=False) for e in ordered
    )
    digest = hashlib.sha256(lines.encode("utf-8", "surrogatepass")).hexdigest()
    return DatasetVersion(
        digest[:SHORT_ID],
        "files",
        {
            **details,
            "manifest_sha256": digest,
            "file_count": len(ordered),
            "bytes": sum(entry.size for entry in ordered),
            **listed_files([entry.to_dict() for entry in ordered]),
        },
    )
