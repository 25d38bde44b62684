"""A Delta Lake table for remediation (`base.VersionedTable`), through `deltalake`.

Removal and re-addition are commits of `remove` and `add` actions built by hand
(`create_write_transaction`), because `deltalake` has no "remove these files" operation:
it would commit a removal of a path that is not in the table without complaint, so every
path is checked against the current version first. A removal carries the real deletion
time, so `vacuum` keeps the file for the table's retention period (seven days by default),
the window in which a release is possible.

A re-added file keeps its path, size, partition values, modification time, row count and
null counts; its minimum and maximum statistics are kept for numbers and text only (the
Delta log's encoding of temporal statistics is not rebuilt), so a reader may read such a
file where it could have skipped it, never the other way round.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from playbooks.versioned.base import TableChanged, TableFile


class DeltaVersionedTable:
    kind = "delta"

    def __init__(self, path: str) -> None:
        from deltalake import DeltaTable

        self.path = path
        self._open = DeltaTable

    def _table(self, version: str | None = None) -> Any:
        table = self._open(self.path)
        if version is not None:
            table.load_as_version(int(version))
        return table

    def current_version(self) -> str:
        return str(self._table().version())

    def has_version(self, version: str) -> bool:
        try:
            self._table(version)
        except Exception:  # noqa: BLE001 - a version the log no longer has
            return False
        return True

    def previous(self, version: str) -> str | None:
        number = int(version)
        return str(number - 1) if number > 0 else None

    def files(self, version: str | None = None) -> list[TableFile]:
        import pyarrow as pa

        table = self._table(version)
        rows = pa.table(table.get_add_actions(flatten=False)).to_pylist()
        root = self.path.removeprefix("file://")
        return [
            TableFile(
                row["path"],
                os.path.join(root, row["path"]),
                int(row["size_bytes"]),
                int(row["num_records"] or 0),
                {
                    "partition": row.get("partition") or {},
                    "modification_time": int(row["modification_time"]),
                    "stats": _stats(row),
                },
            )
            for row in sorted(rows, key=lambda item: item["path"])
        ]

    def committed(self, metadata: dict[str, str], since: str) -> str | None:
        table = self._table()
        newer = table.version() - int(since)
        if newer <= 0:
            return None
        for entry in table.history(limit=newer):
            if all(entry.get(key) == value for key, value in metadata.items()):
                return str(entry["version"])
        return None

    def remove(self, paths: list[str], metadata: dict[str, str]) -> str:
        from deltalake.transaction import RemoveAction

        table = self._table()
        current = {item.path: item for item in self.files()}
        missing = [path for path in paths if path not in current]
        if missing:
            raise TableChanged(
                f"{len(missing)} file(s) planned for removal are no longer in the Delta "
                f"table (rewritten or removed since the plan), first: {missing[0]}"
            )
        now = int(time.time() * 1000)  # the real time: vacuum's retention counts from it
        actions = [
            RemoveAction(
                path=path,
                data_change=True,
                deletion_timestamp=now,
                size=current[path].size,
                partition_values=current[path].entry["partition"],
            )
            for path in paths
        ]
        return self._commit(table, actions, metadata)

    def add(self, files: list[TableFile], metadata: dict[str, str]) -> str:
        from deltalake.transaction import AddAction

        table = self._table()
        present = {item.path for item in self.files()}
        already = [item.path for item in files if item.path in present]
        if already:
            raise TableChanged(
                f"{len(already)} file(s) to add back are in the Delta table already, first: "
                f"{already[0]}"
            )
        gone = [item.path for item in files if not os.path.exists(item.local_path)]
        if gone:
            raise TableChanged(
                f"{len(gone)} file(s) to add back no longer exist (vacuumed after the "
                f"table's retention period?), first: {gone[0]}"
            )
        actions = [
            AddAction(
                path=item.path,
                size=item.size,
                partition_values=item.entry["partition"],
                modification_time=item.entry["modification_time"],
                data_change=True,
                stats=item.entry["stats"],
            )
            for item in files
        ]
        return self._commit(table, actions, metadata)

    def _commit(self, table: Any, actions: list[Any], metadata: dict[str, str]) -> str:
        """Commit hand-built `add`/`remove` actions with Warden's metadata; the new version."""
        from deltalake import CommitProperties

        table.create_write_transaction(
            actions,
            mode="append",
            schema=table.schema(),
            partition_by=table.metadata().partition_columns or None,
            commit_properties=CommitProperties(custom_metadata=dict(metadata)),
        )
        return self.current_version()

    def restore(self, version: str, metadata: dict[str, str]) -> str:
        from deltalake import CommitProperties

        self._table().restore(
            int(version), commit_properties=CommitProperties(custom_metadata=dict(metadata))
        )
        return self.current_version()


def _stats(row: dict[str, Any]) -> str:
    """The Delta statistics of an add action, as JSON (see the module's note on temporal
    minimum and maximum values)."""
    stats: dict[str, Any] = {"numRecords": int(row["num_records"] or 0)}
    nulls = {k: v for k, v in (row.get("null_count") or {}).items() if isinstance(v, int)}
    if nulls:
        stats["nullCount"] = nulls
    for key, label in (("min", "minValues"), ("max", "maxValues")):
        values = {k: v for k, v in (row.get(key) or {}).items() if _plain(v)}
        if values:
            stats[label] = values
    return json.dumps(stats, sort_keys=True)


def _plain(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int | str)
