"""An asset dataset's file records as a table, for the playbooks that choose rows.

A relabel plan picks rows of a table with its seeded strategies (`playbooks.selection`,
`playbooks.drift_density`). For a files dataset the rows are its present files: one row per
file with its `path` (relative to the dataset's folder), `kind` (image, audio, other),
`format`, the recorded properties (`daemon.scan.asset_properties.PROPERTIES`, as doubles) and
its time as the dataset's time column (`asset_time`, UTC). The store's records are read
once and registered in an in-memory DuckDB, so the strategies run as they do over any
other table; a record holds metadata of a few hundred bytes, not the file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select as sql_select
from sqlmodel import col

from daemon.config.models import ASSET_TIME
from daemon.scan.asset_properties import PROPERTIES
from daemon.store.asset_models import AssetRecord
from daemon.store.engine import open_store
from detectors.sources.base import DatasetSource

#: Text columns of the table, before the properties.
TEXT_COLUMNS = ("path", "kind", "format", "status")


def open_asset_records(store_url: str, name: str) -> DatasetSource:
    """The present files of dataset `name`, from the store at `store_url`, as a source."""
    import ibis
    import pyarrow as pa

    store = open_store(store_url, migrate=False)  # the daemon that plans has migrated it
    selected = [getattr(AssetRecord, column) for column in (*TEXT_COLUMNS, *PROPERTIES)]
    try:
        with store.session(readonly=True) as session:
            rows = session.execute(
                sql_select(*selected, col(AssetRecord.event_time))
                .where(col(AssetRecord.dataset) == name, col(AssetRecord.gone_at).is_(None))
                .order_by(col(AssetRecord.path))
            ).all()
    finally:
        store.close()  # a plan is made in the daemon: no connection left behind
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (len(selected) + 1)
    arrays: dict[str, Any] = {
        column: pa.array(list(values), pa.string())
        for column, values in zip(TEXT_COLUMNS, columns, strict=False)
    }
    for column, values in zip(PROPERTIES, columns[len(TEXT_COLUMNS) : -1], strict=True):
        arrays[column] = pa.array(
            [None if value is None else float(value) for value in values], pa.float64()
        )
    arrays[ASSET_TIME] = pa.array(list(columns[-1]), pa.timestamp("us", tz="UTC"))
    connection = ibis.duckdb.connect()
    # Registered on DuckDB's own connection: Ibis's create_table from Arrow writes SQL that
    # DuckDB 2 refuses.
    connection.con.register("asset_records", pa.table(arrays))
    return DatasetSource(
        name,
        connection.table("asset_records"),
        time_column=ASSET_TIME,
        spec={"format": "files", "records": name},
    )
