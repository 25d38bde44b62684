"""The same scan on the same data through two engines (DuckDB over Parquet, PostgreSQL
tables) gives the same verdicts and statistics, with the store on each backend."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors
from tests.daemon.engine_cases import START, alerts, engine_config, events_table, scan_all


def test_parquet_scan_on_every_store_backend(store, tmp_path: Path):
    pq.write_table(events_table(), tmp_path / "events.parquet")
    config = engine_config(
        str(store.url.render_as_string(hide_password=False)),
        {"format": "parquet", "path": str(tmp_path / "events.parquet")},
    )
    reports = scan_all(config, store)
    assert alerts(reports["drift"]) == [
        ("category_emergence", "kind"),
        ("feature_drift", "amount"),
        ("feature_drift", "kind"),
    ]
    assert alerts(reports["quality"]) == [("null_spike", "score")]
    assert reports["fresh"]["status"] == "ok"
    assert all(r["incident_id"] for r in (reports["drift"], reports["quality"]))
    again = scan_all(config, store)
    assert (
        again["drift"]["reference_cached"] is True and reports["drift"]["reference_cached"] is False
    )
    assert again["drift"]["incident_ids"] == reports["drift"]["incident_ids"]


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgres_table_gives_the_same_statistics_as_parquet(store, tmp_path: Path):
    import psycopg

    assert store.backend == "postgresql"

    table = events_table()
    url = store.url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg://", "postgresql://"
    )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE events (ts timestamptz, id text, amount double precision, "
            "kind text, score double precision)"
        )
        with connection.cursor().copy(
            "COPY events (ts, id, amount, kind, score) FROM STDIN"
        ) as copy:
            for row in zip(*(table[name].to_pylist() for name in table.column_names), strict=True):
                copy.write_row(row)
    pq.write_table(table, tmp_path / "events.parquet")
    from_postgres = scan_all(
        engine_config(url, {"format": "postgres", "url": url, "table": "events"}), store
    )
    from_parquet = scan_all(
        engine_config(url, {"format": "parquet", "path": str(tmp_path / "events.parquet")}), store
    )
    for name in ("drift", "quality", "fresh"):
        assert from_postgres[name]["status"] == from_parquet[name]["status"]
        pg_findings = {(f["pattern"], f["column"]): f for f in from_postgres[name]["findings"]}
        pq_findings = {(f["pattern"], f["column"]): f for f in from_parquet[name]["findings"]}
        assert pg_findings.keys() == pq_findings.keys()
        for key, finding in pq_findings.items():
            assert pg_findings[key]["alert"] == finding["alert"], key
            assert pg_findings[key]["statistic"] == pytest.approx(
                finding["statistic"], rel=1e-9, abs=1e-9
            ), key


def test_duckdb_table_with_a_rolling_reference(store, tmp_path: Path):
    """A table in a DuckDB database file, compared with the same window one day earlier."""
    import duckdb

    rng = np.random.default_rng(8)
    rows = 3 * 600
    times = [START + timedelta(minutes=2.4 * i) for i in range(rows)]
    amount = rng.normal(100, 15, rows) + np.where(np.arange(rows) >= 2 * 600, 25, 0)
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("CREATE TABLE events (ts TIMESTAMPTZ, amount DOUBLE)")
        connection.executemany(
            "INSERT INTO events VALUES (?, ?)", list(zip(times, amount.tolist(), strict=True))
        )
    config = WardenConfig.model_validate(
        {
            "store": {"url": str(store.url.render_as_string(hide_password=False))},
            "datasets": {
                "events": {
                    "format": "duckdb",
                    "url": str(database),
                    "table": "events",
                    "time_column": "ts",
                }
            },
            "monitors": [
                {
                    "name": "dod",
                    "kind": "drift",
                    "dataset": "events",
                    "reference": {"offset": "1d", "window": "1d"},
                    "window": "1d",
                }
            ],
        }
    )
    sync_monitors(store, config)
    clean = run_scan(config, config.monitors[0], START + timedelta(days=2), store)
    shifted = run_scan(config, config.monitors[0], START + timedelta(days=3), store)
    assert clean.status == "ok", clean.message
    assert shifted.status == "alert"
    assert shifted.windows["reference"]["start"] == (START + timedelta(days=1)).isoformat()
    assert [f["column"] for f in shifted.findings if f["alert"]] == ["amount"]


def test_reference_from_another_dataset_a_training_snapshot(store, tmp_path: Path):
    """Serving data compared with a training snapshot stored as its own dataset."""
    rng = np.random.default_rng(9)
    training_times = [START - timedelta(days=30) + timedelta(minutes=5 * i) for i in range(2000)]
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(training_times, pa.timestamp("us", tz="UTC")),
                "score": rng.normal(0, 1, 2000),
            }
        ),
        tmp_path / "training.parquet",
    )
    live_times = [START + timedelta(minutes=1.2 * i) for i in range(1200)]
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(live_times, pa.timestamp("us", tz="UTC")),
                "score": rng.normal(0.6, 1, 1200),
            }
        ),
        tmp_path / "live.parquet",
    )
    config = WardenConfig.model_validate(
        {
            "store": {"url": str(store.url.render_as_string(hide_password=False))},
            "datasets": {
                "live": {
                    "format": "parquet",
                    "path": str(tmp_path / "live.parquet"),
                    "time_column": "ts",
                },
                "training": {
                    "format": "parquet",
                    "path": str(tmp_path / "training.parquet"),
                    "time_column": "ts",
                },
            },
            "monitors": [
                {
                    "name": "vs-train",
                    "kind": "drift",
                    "dataset": "live",
                    "reference": {"dataset": "training"},
                    "window": "1d",
                }
            ],
        }
    )
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], START + timedelta(days=1), store)
    assert report.status == "alert"
    assert report.windows["reference"] == {"dataset": "training", "start": None, "end": None}
    assert [f["column"] for f in report.findings if f["alert"]] == ["score"]
