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

from sqlalchemy import select as sql_select
from sqlmodel import col

from daemon.config.models import ASSET_TIME
from daemon.scan.asset_properties import PROPERTIES, create_property_table
from daemon.store.asset_models import AssetRecord
from daemon.store.engine import open_store
from detectors.sources.base import DatasetSource

#: Text columns of the table, before the properties.
TEXT_COLUMNS = ("path", "kind", "format", "status")


def open_asset_records(store_url: str, name: str) -> DatasetSource:
    """The present files of dataset `name`, from the store at `store_url`, as a source."""
    import ibis

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
    connection = ibis.duckdb.connect()
    create_property_table(connection.con, "asset_records", rows, ASSET_TIME, TEXT_COLUMNS)
    return DatasetSource(
        name,
        connection.table("asset_records"),
        time_column=ASSET_TIME,
        spec={"format": "files", "records": name},
    )
