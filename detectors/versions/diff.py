"""What changed between two versions of a dataset: files, rows, columns.

Works on what each version recorded (`base.DatasetVersion.details` and `schema`), so it
answers after the files are gone (a vacuumed Delta table, an expired Iceberg snapshot, a
rewritten Parquet file). Files are matched by path: a file in both with another size,
modification time, digest or row count is `changed`. Rows are the totals each version
recorded (Delta and Iceberg from their metadata; SQL from the window's fingerprint); a
file manifest records no row count and gives None.

>>> a = DatasetVersion("a", "files", {"files": [{"path": "x", "size": 1, "mtime_ns": 1,
...     "digest": None}]}, {"id": "int64"})
>>> b = DatasetVersion("b", "files", {"files": [{"path": "x", "size": 2, "mtime_ns": 1,
...     "digest": None}, {"path": "y", "size": 1, "mtime_ns": 1, "digest": None}]},
...     {"id": "int64", "note": "string"})
>>> change = diff_versions(a, b)
>>> change["files"]["added"], change["files"]["changed"], change["columns"]["added"]
(['y'], ['x'], {'note': 'string'})
"""

from __future__ import annotations

from typing import Any

from detectors.versions.base import DatasetVersion

#: Paths listed per kind of change at most (the counts are always whole).
MAX_LISTED_PATHS = 1000


def diff_versions(old: DatasetVersion, new: DatasetVersion) -> dict[str, Any]:
    """The change from `old` to `new`, JSON-safe."""
    if old.kind != new.kind:
        raise ValueError(
            f"versions {old.version} ({old.kind}) and {new.version} ({new.kind}) are of "
            "different kinds and cannot be compared"
        )
    return {
        "from": old.version,
        "to": new.version,
        "kind": old.kind,
        "files": _files(old.details.get("files"), new.details.get("files")),
        "files_listed": bool(old.details.get("files_listed") and new.details.get("files_listed")),
        "rows": _rows(old, new),
        "columns": _columns(old.schema, new.schema),
        "commits": {
            "from": _commit(old.details),
            "to": _commit(new.details),
        },
        "windows": _windows(old.details, new.details) if old.kind == "sql" else None,
    }


def _files(old: Any, new: Any) -> dict[str, Any] | None:
    """None when either version lists no files (a SQL fingerprint, or a version of more
    than `MAX_LISTED_FILES` files)."""
    if not isinstance(old, list) or not isinstance(new, list):
        return None
    before = {item["path"]: item for item in old if isinstance(item, dict) and "path" in item}
    after = {item["path"]: item for item in new if isinstance(item, dict) and "path" in item}
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(path for path in before.keys() & after.keys() if before[path] != after[path])
    return {
        "added": added[:MAX_LISTED_PATHS],
        "removed": removed[:MAX_LISTED_PATHS],
        "changed": changed[:MAX_LISTED_PATHS],
        "counts": {
            "added": len(added),
            "removed": len(removed),
            "changed": len(changed),
            "unchanged": len(before.keys() & after.keys()) - len(changed),
        },
    }


def total_rows(version: DatasetVersion) -> int | None:
    """The rows a version recorded (None for a file manifest, which counts none)."""
    rows = version.details.get("rows")
    if isinstance(rows, int):
        return rows
    windows = version.details.get("windows")
    if version.kind == "sql" and isinstance(windows, dict):
        counts = [w.get("rows") for w in windows.values() if isinstance(w, dict)]
        if counts and all(isinstance(n, int) for n in counts):
            return sum(int(n) for n in counts if n is not None)
    return None


def _rows(old: DatasetVersion, new: DatasetVersion) -> dict[str, int | None]:
    before, after = total_rows(old), total_rows(new)
    change = after - before if before is not None and after is not None else None
    return {"from": before, "to": after, "change": change}


def _columns(old: dict[str, str], new: dict[str, str]) -> dict[str, Any]:
    return {
        "added": {name: new[name] for name in new if name not in old},
        "removed": {name: old[name] for name in old if name not in new},
        "retyped": {
            name: {"from": old[name], "to": new[name]}
            for name in old
            if name in new and old[name] != new[name]
        },
    }


def _commit(details: dict[str, Any]) -> dict[str, Any] | None:
    if "committed_at" not in details:
        return None
    return {
        "committed_at": details.get("committed_at"),
        "operation": details.get("operation"),
        "warden": details.get("warden") or {},
    }


def _windows(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """For SQL fingerprints: per window, whether its rows changed (hash or count)."""
    before, after = old.get("windows") or {}, new.get("windows") or {}
    compared = {}
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name) or {}, after.get(name) or {}
        comparable = (a.get("engine"), a.get("engine_version")) == (
            b.get("engine"),
            b.get("engine_version"),
        )
        compared[name] = {
            "from": [a.get("start"), a.get("end")],
            "to": [b.get("start"), b.get("end")],
            "rows": {"from": a.get("rows"), "to": b.get("rows")},
            "changed": (
                (a.get("rows"), a.get("hash")) != (b.get("rows"), b.get("hash"))
                if comparable
                else None  # another engine or release: hashes are not comparable
            ),
        }
    return compared
