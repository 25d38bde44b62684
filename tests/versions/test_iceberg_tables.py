"""Iceberg datasets in a SQL catalog: scans name the snapshot they read, replay the
snapshot current at their time, and say clearly when the catalog or table is not there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tests.versions.scans import config_for, drift_monitor, scan
from tests.versions.test_delta_tables import _day

pytest.importorskip("pyiceberg", reason="the `iceberg` extra is part of make test")

START = datetime(2025, 1, 1, tzinfo=UTC)


def _catalog(folder: Path):
    from pyiceberg.catalog.sql import SqlCatalog

    (folder / "warehouse").mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        "default",
        uri=f"sqlite:///{folder / 'catalog.db'}",
        warehouse=f"file://{folder / 'warehouse'}",
    )


def _table(folder: Path, batches: list[pa.Table]):
    catalog = _catalog(folder)
    catalog.create_namespace_if_not_exists("shop")
    table = catalog.create_table("shop.orders", schema=batches[0].schema)
    for batch in batches:
        table.append(batch)
    return catalog.load_table("shop.orders")


def _config(store, folder: Path, table: str = "shop.orders", name: str = "default", uri=None):
    return config_for(
        store,
        {
            "orders": {
                "format": "iceberg",
                "catalog": {"uri": uri or f"sqlite:///{folder / 'catalog.db'}", "name": name},
                "table": table,
                "time_column": "ts",
            }
        },
        [drift_monitor("orders", window="1000d")],  # every row is in the current window
    )


def _instant(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def test_a_scan_names_the_snapshot_and_a_replay_reads_the_one_current_then(store, tmp_path):
    table = _table(tmp_path, [_day(0), _day(1), _day(2)])
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    assert len(snapshots) == 3
    config = _config(store, tmp_path)
    latest = scan(config, store, _instant(snapshots[-1].timestamp_ms) + timedelta(seconds=1))
    assert latest["status"] == "ok", latest["message"]
    assert latest["dataset_version"] == str(snapshots[-1].snapshot_id)  # text: beyond 2^53
    assert latest["dataset_version_kind"] == "iceberg"
    assert latest["summary"]["current_rows"] == 900
    first = scan(config, store, _instant(snapshots[0].timestamp_ms))  # inclusive
    assert first["dataset_version"] == str(snapshots[0].snapshot_id)
    assert first["summary"]["current_rows"] == 300
    with store.session(readonly=True) as session:
        from daemon.scan.version_records import version_rows

        rows = {row.version: row for row in version_rows(session, "orders")}
    newest = rows[str(snapshots[-1].snapshot_id)]
    assert newest.details["operation"] == "append" and newest.details["rows"] == 900
    assert newest.details["parent_snapshot_id"] == str(snapshots[1].snapshot_id)
    assert newest.details["file_count"] == 3


def test_a_time_before_the_first_snapshot_is_refused(store, tmp_path):
    table = _table(tmp_path, [_day(0)])
    first = table.metadata.snapshots[0].timestamp_ms
    report = scan(_config(store, tmp_path), store, _instant(first - 1000))
    assert report["status"] == "error"
    assert "had no version at" in report["message"] and "shop.orders" in report["message"]


def test_an_unknown_table_names_those_the_catalog_has(store, tmp_path):
    _table(tmp_path, [_day(0)])
    report = scan(_config(store, tmp_path, table="shop.nope"), store, START + timedelta(days=2))
    assert report["status"] == "error"
    assert "has no table 'shop.nope'; it has: shop.orders" in report["message"]
    other_name = scan(_config(store, tmp_path, name="prod"), store, START + timedelta(days=2))
    assert other_name["status"] == "error" and "check `catalog.name`" in other_name["message"]


def test_an_unreachable_catalog_is_a_clear_error(store, tmp_path):
    report = scan(
        _config(store, tmp_path, uri="postgresql://nobody@127.0.0.1:1/catalog"),
        store,
        START + timedelta(days=2),
    )
    assert report["status"] == "error"
    assert (
        "Iceberg catalog at postgresql+psycopg://nobody@127.0.0.1:1/catalog" in (report["message"])
    )
    assert "Connection refused" in report["message"] or "connection" in report["message"]


def test_a_relative_sqlite_catalog_is_relative_to_the_config_file(tmp_path):
    from daemon.config import load_config

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "warden.yaml").write_text(
        "datasets:\n"
        "  orders:\n"
        "    format: iceberg\n"
        "    catalog: {uri: 'sqlite:///catalog.db'}\n"
        "    table: shop.orders\n"
        "    time_column: ts\n"
    )
    loaded = load_config(str(tmp_path / "conf" / "warden.yaml"))
    catalog = loaded.datasets["orders"].catalog
    assert catalog is not None and catalog.uri == f"sqlite:///{tmp_path / 'conf' / 'catalog.db'}"
