"""Spark runs the same detectors as DuckDB: the same scan over the same Parquet data, read by
Spark from a path and from a catalog table, gives the same verdicts and statistics; bad
locations are monitor errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from daemon.config.loader import load_config
from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from detectors.sources.spark import spark_backend
from tests.daemon.engine_cases import AT, engine_config, events_table, scan_all

SQLITE_STORE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _same_results(ours: dict[str, dict], theirs: dict[str, dict]) -> None:
    for name in ("drift", "quality", "fresh"):
        assert ours[name]["status"] == theirs[name]["status"], name
        mine = {(f["pattern"], f["column"]): f for f in ours[name]["findings"]}
        other = {(f["pattern"], f["column"]): f for f in theirs[name]["findings"]}
        assert mine.keys() == other.keys(), name
        for key, finding in other.items():
            assert mine[key]["alert"] == finding["alert"], key
            assert mine[key]["statistic"] == pytest.approx(
                finding["statistic"], rel=1e-9, abs=1e-9
            ), key


@SQLITE_STORE
def test_spark_path_and_table_give_the_same_results_as_duckdb(
    store, spark_master: str, tmp_path: Path
):
    parquet = tmp_path / "events"
    parquet.mkdir()
    pq.write_table(events_table(), parquet / "part-0.parquet")
    store_url = store.url.render_as_string(hide_password=False)

    duckdb_reports = scan_all(
        engine_config(store_url, {"format": "parquet", "path": str(parquet)}), store
    )
    spark_path_reports = scan_all(
        engine_config(store_url, {"format": "spark", "url": spark_master, "path": str(parquet)}),
        store,
    )
    _same_results(spark_path_reports, duckdb_reports)
    assert spark_path_reports["drift"]["status"] == "alert"

    # The same files as a table in the Spark catalog.
    backend = spark_backend(spark_master)
    backend._session.read.parquet(str(parquet)).createOrReplaceTempView("events_table")
    spark_table_reports = scan_all(
        engine_config(store_url, {"format": "spark", "url": spark_master, "table": "events_table"}),
        store,
    )
    _same_results(spark_table_reports, duckdb_reports)


@SQLITE_STORE
def test_spark_errors_are_monitor_errors(store, spark_master: str, tmp_path: Path):
    config_file = tmp_path / "warden.yaml"
    config_file.write_text(
        f"store: {{url: '{store.url.render_as_string(hide_password=False)}'}}\n"
        "datasets:\n"
        f"  gone: {{format: spark, url: '{spark_master}', path: '{tmp_path / 'nothing'}', "
        "time_column: ts}\n"
        f"  notable: {{format: spark, url: '{spark_master}', table: no_such_table, "
        "time_column: ts}\n"
        "monitors:\n"
        "  - {name: gone, kind: freshness, dataset: gone, max_lag: 1h}\n"
        "  - {name: notable, kind: freshness, dataset: notable, max_lag: 1h}\n"
    )
    config = load_config(config_file)
    sync_monitors(store, config)
    reports = {m.name: run_scan(config, m, AT, store) for m in config.monitors}
    gone, notable = reports["gone"], reports["notable"]
    assert gone is not None and notable is not None
    assert gone.status == "error" and "Spark cannot read Parquet files at" in gone.message
    assert "nothing" in gone.message
    assert notable.status == "error" and "table 'no_such_table'" in notable.message


def test_spark_dataset_config_needs_one_location():
    base = {"store": {"url": "sqlite:///w.db"}, "monitors": []}
    with pytest.raises(ValueError, match="one of `table`"):
        WardenConfig.model_validate(
            {**base, "datasets": {"e": {"format": "spark", "time_column": "ts"}}}
        )
    with pytest.raises(ValueError, match="spark datasets only"):
        WardenConfig.model_validate(
            {
                **base,
                "datasets": {
                    "e": {
                        "format": "parquet",
                        "path": "x.parquet",
                        "time_column": "ts",
                        "spark_conf": {"spark.driver.memory": "1g"},
                    }
                },
            }
        )
