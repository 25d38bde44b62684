"""An Iceberg table in a SQL catalog for remediation (`base.VersionedTable`), through
`pyiceberg`.

Removal is an `overwrite` snapshot that deletes the data files (pyiceberg checks that each
is in the table: a file no longer there fails the commit); re-addition is a `fast_append`
of the very `DataFile` records read from the snapshot before the removal, so the files
come back with their partition, statistics and sequence exactly as they were. (The
`delete` snapshot of pyiceberg 0.12 silently commits nothing for whole files: not used.)

A return to an earlier version makes that snapshot current (`set_current_snapshot`): the
table's snapshot log records it, but no new snapshot is made, so the version id after a
restore is the earlier snapshot's own.
"""

from __future__ import annotations

from typing import Any

from detectors.sources.iceberg import load_iceberg_table, local_path
from playbooks.versioned.base import TableChanged, TableFile


class IcebergVersionedTable:
    kind = "iceberg"

    def __init__(self, dataset: str, *, catalog_uri: str, catalog_name: str, table: str):
        self.dataset = dataset
        self.identifier = table
        self._where = {"catalog_uri": catalog_uri, "catalog_name": catalog_name, "table": table}

    def _table(self) -> Any:
        return load_iceberg_table(self.dataset, **self._where)

    def current_version(self) -> str:
        snapshot = self._table().current_snapshot()
        if snapshot is None:
            raise TableChanged(f"Iceberg table {self.identifier!r} has no snapshot")
        return str(snapshot.snapshot_id)

    def has_version(self, version: str) -> bool:
        return any(str(s.snapshot_id) == version for s in self._table().metadata.snapshots)

    def previous(self, version: str) -> str | None:
        for snapshot in self._table().metadata.snapshots:
            if str(snapshot.snapshot_id) == version:
                parent = snapshot.parent_snapshot_id
                return str(parent) if parent is not None else None
        return None

    def _data_files(self, table: Any, version: str | None) -> dict[str, Any]:
        snapshot_id = int(version) if version is not None else None
        if snapshot_id is None:
            current = table.current_snapshot()
            snapshot_id = current.snapshot_id if current is not None else None
        if snapshot_id is None:
            return {}
        return {
            task.file.file_path: task.file
            for task in table.scan(snapshot_id=snapshot_id).plan_files()
        }

    def files(self, version: str | None = None) -> list[TableFile]:
        table = self._table()
        found = self._data_files(table, version)
        snapshot = version or self.current_version()
        return [
            TableFile(
                path,
                local_path(path),
                int(data.file_size_in_bytes),
                int(data.record_count),
                {"snapshot": snapshot},
            )
            for path, data in sorted(found.items())
        ]

    def committed(self, metadata: dict[str, str], since: str) -> str | None:
        table = self._table()
        start = next(
            (s.sequence_number for s in table.metadata.snapshots if str(s.snapshot_id) == since),
            None,
        )
        for snapshot in table.metadata.snapshots:
            if start is not None and (snapshot.sequence_number or 0) <= start:
                continue
            properties = snapshot.summary.additional_properties if snapshot.summary else {}
            if all(properties.get(key) == value for key, value in metadata.items()):
                return str(snapshot.snapshot_id)
        return None

    def remove(self, paths: list[str], metadata: dict[str, str]) -> str:
        table = self._table()
        current = self._data_files(table, None)
        missing = [path for path in paths if path not in current]
        if missing:
            raise TableChanged(
                f"{len(missing)} file(s) planned for removal are no longer in Iceberg table "
                f"{self.identifier!r}, first: {missing[0]}"
            )
        with table.transaction() as transaction:
            update = transaction.update_snapshot(snapshot_properties=dict(metadata))
            with update.overwrite() as overwrite:
                for path in paths:
                    overwrite.delete_data_file(current[path])
        return self.current_version()

    def add(self, files: list[TableFile], metadata: dict[str, str]) -> str:
        import os

        table = self._table()
        present = self._data_files(table, None)
        already = [item.path for item in files if item.path in present]
        if already:
            raise TableChanged(
                f"{len(already)} file(s) to add back are in Iceberg table "
                f"{self.identifier!r} already, first: {already[0]}"
            )
        records = {}
        for snapshot in sorted({item.entry["snapshot"] for item in files}):
            if not self.has_version(snapshot):
                raise TableChanged(
                    f"snapshot {snapshot} of Iceberg table {self.identifier!r}, which listed "
                    "the files to add back, has expired"
                )
            records.update(self._data_files(table, snapshot))
        gone = [i.path for i in files if i.path not in records or not os.path.exists(i.local_path)]
        if gone:
            raise TableChanged(
                f"{len(gone)} file(s) to add back no longer exist (removed by snapshot "
                f"expiry or orphan clean-up?), first: {gone[0]}"
            )
        with table.transaction() as transaction:
            update = transaction.update_snapshot(snapshot_properties=dict(metadata))
            with update.fast_append() as append:
                for item in files:
                    append.append_data_file(records[item.path])
        return self.current_version()

    def restore(self, version: str, metadata: dict[str, str]) -> str:
        del metadata  # a change of the current snapshot has no properties to carry them
        self._table().manage_snapshots().set_current_snapshot(int(version)).commit()
        return self.current_version()
