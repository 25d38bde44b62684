"""What the cross-engine playbook tests share: the same rows as a Parquet folder and as a
PostgreSQL table, and a playbook context over either."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, PlaybookContext
from tests.conftest import _fresh_postgres_database


def parquet_folder_of(folder: Path, rows: pa.Table) -> Path:
    pq.write_table(rows, folder / "part-0.parquet")
    return folder


def postgres_table_of(rows: pa.Table, types: dict[str, str]) -> Iterator[str]:
    """A fresh PostgreSQL database holding `rows` as table `events` (columns typed by
    `types`, in that order); yields its URL."""
    for url in _fresh_postgres_database():
        engine = sqlalchemy.create_engine(url)
        columns = ", ".join(f"{name} {kind}" for name, kind in types.items())
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE TABLE events ({columns})")
            names = ", ".join(types)
            marks = ", ".join(f":{name}" for name in types)
            connection.execute(
                sqlalchemy.text(f"INSERT INTO events ({names}) VALUES ({marks})"), rows.to_pylist()
            )
        engine.dispose()
        yield url


def events_context(config: DatasetConfig, work_root: Path, **roles: Any) -> PlaybookContext:
    """Dataset `events` (time column `ts`) as `config` says, with `roles` (label_column...)."""
    location = DatasetLocation(
        "events",
        config.format,
        config.path or "",
        "ts",
        url=config.url or "",
        table=config.table or "",
        **roles,
    )
    return PlaybookContext(location, work_root, open_source=partial(open_dataset, "events", config))


def parquet_events(folder: Path) -> DatasetConfig:
    """Dataset `events` as the Parquet files in `folder`."""
    return DatasetConfig(format="parquet", path=str(folder), time_column="ts")


def postgres_events(url: str) -> DatasetConfig:
    """Dataset `events` as the table of that name in the PostgreSQL database at `url`."""
    return DatasetConfig(format="postgres", url=url, table="events", time_column="ts")
