"""Spark runs the same detectors as DuckDB: the same scan over the same Parquet data, read by
Spark from a path and from a catalog table, gives the same verdicts and statistics; bad
locations, nanosecond timestamps (which Spark cannot read) and time columns that are not times
are monitor errors that say what is wrong and what to do, without Java stack traces."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.loader import load_config
from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from daemon.scan.version_records import versions_named
from detectors.sources.spark import spark_backend
from tests.daemon.engine_cases import AT, engine_config, events_table, scan_all

SQLITE_STORE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
WARDEN = Path(sys.executable).with_name("warden")


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
    # Each names the version it read: a manifest of the files, or Spark's fingerprint of
    # the window (the same rows by path or by table: the same fingerprint).
    assert duckdb_reports["drift"]["dataset_version_kind"] == "files"
    for reports in (spark_path_reports, spark_table_reports):
        assert reports["drift"]["dataset_version_kind"] == "sql"
        assert reports["drift"]["dataset_version_error"] is None
    assert (
        spark_path_reports["drift"]["dataset_version"]
        == spark_table_reports["drift"]["dataset_version"]
    )
    with store.session(readonly=True) as session:
        (fingerprint,) = versions_named(session, spark_path_reports["drift"]["dataset_version"])
    window = fingerprint.details["windows"]["current"]
    assert window["engine"] == "pyspark" and window["hash"] is not None and window["rows"] > 0


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


#: What every nanosecond-timestamp error tells the user to do (for a time column `ts`).
NANOSECOND_FIX = (
    "Rewrite the files with microsecond timestamps: pandas "
    '`df.to_parquet(path, coerce_timestamps="us")` or pyarrow '
    '`pq.write_table(table, path, coerce_timestamps="us")` (add '
    "`allow_truncated_timestamps=True` if values have sub-microsecond digits), or convert them "
    "once in a Spark job: read them with spark.sql.legacy.parquet.nanosAsLong=true and write "
    "`timestamp_micros(ts div 1000)` back"
)


def _events_frame() -> pd.DataFrame:
    """The parity events as a pandas user has them: times in nanoseconds, pandas' default."""
    frame = events_table().to_pandas()
    frame["ts"] = frame["ts"].astype("datetime64[ns, UTC]")
    return frame


def _write_pandas_parquet(folder: Path, name: str = "part-0.parquet", **options) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / name
    _events_frame().to_parquet(target, **options)
    return target


def _freshness_config(tmp_path: Path, store, spark_master: str, datasets: dict) -> Path:
    """A config with one freshness monitor per Spark dataset ({name: extra YAML keys})."""
    lines = [
        f"store: {{url: '{store.url.render_as_string(hide_password=False)}'}}",
        "datasets:",
        *(
            f"  {name}: {{format: spark, url: '{spark_master}', time_column: ts, {keys}}}"
            for name, keys in datasets.items()
        ),
        "monitors:",
        *(
            f"  - {{name: {name}, kind: freshness, dataset: {name}, max_lag: 1h}}"
            for name in datasets
        ),
    ]
    config_file = tmp_path / "warden.yaml"
    config_file.write_text("\n".join(lines) + "\n")
    return config_file


def _scan(config_file: Path, store) -> dict[str, dict]:
    config = load_config(config_file)
    sync_monitors(store, config)
    reports = {m.name: run_scan(config, m, AT, store) for m in config.monitors}
    return {name: report.to_json_dict() for name, report in reports.items() if report}


@SQLITE_STORE
def test_nanosecond_parquet_and_epoch_times_are_monitor_errors_with_the_fix(
    store, spark_master: str, tmp_path: Path
):
    nanos = _write_pandas_parquet(tmp_path / "nanos")
    assert pq.read_schema(nanos).field("ts").type == pa.timestamp("ns", tz="UTC")
    # A file without a Parquet suffix is listed by Spark only: its own error is translated.
    _write_pandas_parquet(tmp_path / "unlisted", name="part-00000")
    epoch = _events_frame()
    epoch["ts"] = epoch["ts"].map(lambda t: t.timestamp())
    (tmp_path / "epoch").mkdir()
    epoch.to_parquet(tmp_path / "epoch" / "part-0.parquet")
    config_file = _freshness_config(
        tmp_path,
        store,
        spark_master,
        {name: f"path: '{tmp_path / name}'" for name in ("nanos", "unlisted", "epoch")},
    )

    reports = _scan(config_file, store)

    assert {name: report["status"] for name, report in reports.items()} == {
        "nanos": "error",
        "unlisted": "error",
        "epoch": "error",
    }
    assert reports["nanos"]["message"] == (
        f"dataset 'nanos': the Parquet files at '{tmp_path / 'nanos'}' store nanosecond "
        f"timestamps, which Spark cannot read (1 of 1 files; first {nanos}, column ts). "
        + NANOSECOND_FIX
    )
    unlisted = reports["unlisted"]["message"]
    assert unlisted.startswith(
        f"dataset 'unlisted': Spark cannot read Parquet files at '{tmp_path / 'unlisted'}': "
        "they store nanosecond timestamps, which it does not support ([PARQUET_TYPE_ILLEGAL] "
        "Illegal Parquet type: INT64 (TIMESTAMP(NANOS,true))"
    ), unlisted
    assert unlisted.endswith(NANOSECOND_FIX)
    assert reports["epoch"]["message"] == (
        "dataset 'epoch': time column 'ts' is float64; it must be a timestamp, a date, or text "
        "in ISO 8601 (epoch numbers are not read as times: convert them in a view or when "
        "writing, e.g. `timestamp_seconds(ts)` for epoch seconds)"
    )

    # The advice works: the same frame written with microseconds is read, and is fresh.
    _write_pandas_parquet(tmp_path / "micros", coerce_timestamps="us")
    fixed = _scan(
        _freshness_config(tmp_path, store, spark_master, {"micros": f"path: '{tmp_path}/micros'"}),
        store,
    )
    assert fixed["micros"]["status"] == "ok"


@SQLITE_STORE
def test_nanos_as_long_is_refused_instead_of_giving_insufficient_data(
    store, spark_master: str, tmp_path: Path
):
    _write_pandas_parquet(tmp_path / "nanos")
    config_file = _freshness_config(
        tmp_path,
        store,
        spark_master,
        {
            "nanos": f"path: '{tmp_path / 'nanos'}', "
            "spark_conf: {spark.sql.legacy.parquet.nanosAsLong: 'true'}"
        },
    )
    try:
        reports = _scan(config_file, store)
    finally:
        # The session is shared by every test: leave it as the fixture made it.
        spark_backend(spark_master)._session.conf.unset("spark.sql.legacy.parquet.nanosAsLong")
    assert reports["nanos"]["status"] == "error"
    assert reports["nanos"]["message"] == (
        "dataset 'nanos': time column 'ts' is int64; it must be a timestamp, a date, or text in "
        "ISO 8601 (spark.sql.legacy.parquet.nanosAsLong=true reads nanosecond timestamps as "
        f"plain numbers. {NANOSECOND_FIX})"
    )


@SQLITE_STORE
def test_warden_scan_of_nanosecond_parquet_prints_no_java_stack_trace(
    store, spark_master: str, tmp_path: Path
):
    """The user's view: `warden scan` in its own process, Spark's logging as Warden sets it."""
    nanos = _write_pandas_parquet(tmp_path / "nanos")
    config_file = _freshness_config(
        tmp_path, store, "local[1]", {"nanos": f"path: '{tmp_path / 'nanos'}'"}
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    done = subprocess.run(
        [str(WARDEN), "scan", "--config", str(config_file), "--at", AT.isoformat(), "--json"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 3, done.stderr  # a monitor reported `error`
    [report] = [json.loads(line) for line in done.stdout.splitlines()]
    assert report["status"] == "error"
    assert report["message"] == (
        f"dataset 'nanos': the Parquet files at '{tmp_path / 'nanos'}' store nanosecond "
        f"timestamps, which Spark cannot read (1 of 1 files; first {nanos}, column ts). "
        + NANOSECOND_FIX
    )
    assert not re.search(r"^\s+at \S+\(", done.stderr, re.MULTILINE), done.stderr
    assert "Exception" not in done.stderr and "Traceback" not in done.stderr, done.stderr
