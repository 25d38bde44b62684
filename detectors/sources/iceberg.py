"""Apache Iceberg tables (`format: iceberg`) in a SQL catalog, read through `pyiceberg`
into DuckDB.

The catalog (a SQLite file or a PostgreSQL database holding pyiceberg's `iceberg_tables`)
names the table's current metadata; the snapshot read is planned with pyiceberg (which
files make it up) and its Parquet files are read by DuckDB, so the same queries as on
Parquet files run on it. The snapshot id is the dataset's version (`detectors.versions`).

Time travel: opened `at` a time, the snapshot current then is read (from the table's
snapshot log, so a rollback is respected); a time before the first snapshot is refused.

Files are read by column name: a table whose columns were renamed since some files were
written, or that has delete files (merge-on-read deletes written by Spark or Flink), is
refused with a clear error rather than read wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from detectors.sources.base import DatasetSource
from detectors.sources.errors import SourceError, first_line, mask_password
from detectors.sources.table_formats import (
    did_not_exist,
    iso_ms,
    missing_extra,
    source_over_relation,
    utc_ms,
)
from detectors.versions.base import DatasetVersion, listed_files


def load_iceberg_table(name: str, *, catalog_uri: str, catalog_name: str, table: str) -> Any:
    """The Iceberg table `table` (namespace.name) of the SQL catalog at `catalog_uri`."""
    try:
        from pyiceberg.catalog.sql import SqlCatalog
        from pyiceberg.exceptions import NoSuchTableError
    except ImportError as error:
        raise missing_extra("Iceberg", "iceberg", error) from error
    if catalog_uri.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; Warden installs psycopg 3.
        catalog_uri = "postgresql+psycopg://" + catalog_uri.split("://", 1)[1]
    try:
        catalog = SqlCatalog(catalog_name, uri=catalog_uri)
    except Exception as error:
        raise SourceError(
            f"dataset {name!r}: the Iceberg catalog at {mask_password(catalog_uri)} cannot be "
            f"opened: {first_line(error)}",
            key="catalog",
        ) from error
    try:
        return catalog.load_table(table)
    except NoSuchTableError as error:
        known = _known_tables(catalog)
        raise SourceError(
            f"dataset {name!r}: the Iceberg catalog {catalog_name!r} at "
            f"{mask_password(catalog_uri)} has no table {table!r}"
            + (f"; it has: {', '.join(known)}" if known else "; it has no tables")
            + " (the catalog's name is part of each table's key: check `catalog.name`)",
            key="table",
        ) from error
    except Exception as error:  # the catalog's database unreachable, a missing metadata file
        raise SourceError(
            f"dataset {name!r}: Iceberg table {table!r} cannot be loaded from "
            f"{mask_password(catalog_uri)}: {first_line(error)}",
            key="catalog",
        ) from error


def snapshot_at(name: str, table: Any, identifier: str, at: datetime | None) -> Any:
    """The snapshot current at `at` (now, without one); refuses a table with no snapshot
    then."""
    if at is None:
        snapshot = table.current_snapshot()
    else:
        snapshot = table.snapshot_as_of_timestamp(utc_ms(at), inclusive=True)
    if snapshot is None:
        snapshots = table.metadata.snapshots
        if at is not None and snapshots:
            first = min(item.timestamp_ms for item in snapshots)
            raise did_not_exist(name, f"Iceberg table {identifier!r}", at, iso_ms(first))
        raise SourceError(
            f"dataset {name!r}: Iceberg table {identifier!r} has no snapshot (no data yet)",
            key="table",
        )
    return snapshot


def iceberg_version(table: Any, snapshot: Any) -> tuple[DatasetVersion, list[str]]:
    """The version of `snapshot` (id, parent, time, operation, files) and its data files'
    local paths; refuses delete files."""
    tasks = list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
    if any(task.delete_files for task in tasks):
        raise SourceError(
            f"Iceberg table {table.name()!r} has delete files in snapshot "
            f"{snapshot.snapshot_id} (merge-on-read deletes), which Warden does not read yet; "
            "compact the table, or read it through Spark (`format: spark`)",
            key="table",
        )
    files = sorted(
        (
            {
                "path": task.file.file_path,
                "size": int(task.file.file_size_in_bytes),
                "rows": int(task.file.record_count),
            }
            for task in tasks
        ),
        key=lambda item: item["path"],
    )
    summary = snapshot.summary
    properties = dict(summary.additional_properties) if summary is not None else {}
    version = DatasetVersion(
        str(snapshot.snapshot_id),
        "iceberg",
        {
            "snapshot_id": str(snapshot.snapshot_id),
            "parent_snapshot_id": (
                str(snapshot.parent_snapshot_id)
                if snapshot.parent_snapshot_id is not None
                else None
            ),
            "committed_at": iso_ms(snapshot.timestamp_ms),
            "operation": summary.operation.value if summary is not None else None,
            "warden": {k: v for k, v in properties.items() if k.startswith("warden.")},
            "file_count": len(files),
            "rows": sum(item["rows"] for item in files),
            "bytes": sum(item["size"] for item in files),
            **listed_files(files),
        },
    )
    return version, [local_path(item["path"]) for item in files]


def local_path(uri: str) -> str:
    """A data file's location as DuckDB reads it (a `file://` URI as a plain path)."""
    return uri.removeprefix("file://")


def open_iceberg_source(
    name: str,
    *,
    catalog_uri: str,
    catalog_name: str,
    table: str,
    time_column: str,
    time_format: str | None = None,
    entity_column: str | None = None,
    at: datetime | None = None,
    memory_limit: str | None = None,
) -> DatasetSource:
    """Open Iceberg table `table` as of `at` (its current snapshot without one)."""
    loaded = load_iceberg_table(
        name, catalog_uri=catalog_uri, catalog_name=catalog_name, table=table
    )
    snapshot = snapshot_at(name, loaded, table, at)
    version, paths = iceberg_version(loaded, snapshot)
    if not paths:
        raise SourceError(
            f"dataset {name!r}: snapshot {snapshot.snapshot_id} of Iceberg table {table!r} "
            "has no data files",
            key="table",
        )
    listed = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    return source_over_relation(
        name,
        location=f"{table} in {mask_password(catalog_uri)}",
        register=None,
        reader=f"read_parquet([{listed}], union_by_name = true)",
        time_column=time_column,
        time_format=time_format,
        entity_column=entity_column,
        spec={"format": "iceberg", "catalog": mask_password(catalog_uri), "table": table},
        version=version,
        memory_limit=memory_limit,
    )


def _known_tables(catalog: Any) -> list[str]:
    try:
        return [
            ".".join(identifier)
            for namespace in catalog.list_namespaces()
            for identifier in catalog.list_tables(namespace)
        ]
    except Exception:  # noqa: BLE001 - the list only helps the message
        return []
