"""Delta and Iceberg tables of daily commits for the remediation tests, and how to read
what a table holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from daemon.config.models import WardenConfig
from playbooks.base import IncidentView

START = datetime(2025, 1, 1, tzinfo=UTC)


def day_rows(day: int, rows: int = 100, *, nulls: bool = False) -> pa.Table:
    """Day `day`'s rows: ids unique over all days, `x` null throughout when `nulls`."""
    base = START + timedelta(days=day)
    return pa.table(
        {
            "id": pa.array(np.arange(rows) + day * 1000, pa.int64()),
            "ts": pa.array(
                [base + timedelta(minutes=10 * i) for i in range(rows)],
                pa.timestamp("us", tz="UTC"),
            ),
            "x": pa.array(
                [None] * rows if nulls else [float(i) for i in range(rows)], pa.float64()
            ),
            "day": [f"d{day:02d}"] * rows,
        }
    )


def delta_of_days(path: Path, days: int, **bad: Any) -> None:
    import deltalake

    for day in range(days):
        deltalake.write_deltalake(
            str(path),
            day_rows(day, nulls=day in bad.get("null_days", ())),
            mode="append",
            partition_by=["day"],
        )


def iceberg_of_days(folder: Path, days: int, **bad: Any) -> Any:
    from pyiceberg.catalog.sql import SqlCatalog

    (folder / "warehouse").mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog(
        "default",
        uri=f"sqlite:///{folder / 'catalog.db'}",
        warehouse=f"file://{folder / 'warehouse'}",
    )
    catalog.create_namespace_if_not_exists("shop")
    first = day_rows(0)
    table = catalog.create_table("shop.orders", schema=first.schema)
    for day in range(days):
        table.append(day_rows(day, nulls=day in bad.get("null_days", ())))
    return catalog.load_table("shop.orders")


def delta_rows(path: Path, version: int | None = None) -> list[tuple[Any, ...]]:
    """Every row of the Delta table (at `version`), sorted."""
    import deltalake

    table = deltalake.DeltaTable(str(path), version=version)
    read = table.to_pyarrow_dataset().to_table().select(["id", "ts", "x", "day"])
    return sorted(zip(*(read[c].to_pylist() for c in read.column_names), strict=True))


def iceberg_rows(folder: Path, snapshot: int | None = None) -> list[tuple[Any, ...]]:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("default", uri=f"sqlite:///{folder / 'catalog.db'}")
    read = catalog.load_table("shop.orders").scan(snapshot_id=snapshot).to_arrow()
    read = read.select(["id", "ts", "x", "day"])
    return sorted(zip(*(read[c].to_pylist() for c in read.column_names), strict=True))


def table_config(dataset: dict[str, Any], work_root: Path) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "datasets": {"orders": {**dataset, "time_column": "ts"}},
            "playbooks": {"work_root": str(work_root)},
        }
    )


def window_incident(day: int, *, version: str | None = None, incident_id: int = 7) -> IncidentView:
    """An incident about day `day` (its current window), as a scan that read `version`
    would have left it."""
    start = START + timedelta(days=day)
    return IncidentView(
        id=incident_id,
        dataset="orders",
        pattern="null_spike",
        columns=("x",),
        windows={
            "current": {
                "dataset": "orders",
                "start": start.isoformat(),
                "end": (start + timedelta(days=1)).isoformat(),
            }
        },
        dataset_version=version,
    )
