"""Training-serving skew on seeded data: value skew on 5% of entities, a distribution skew,
and a clean pair where nothing may alert. Through the engine, as a scan runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors

START = datetime(2025, 3, 1, tzinfo=UTC)
AT = START + timedelta(days=1)
ENTITIES = 2000


def _offline(rng: np.random.Generator) -> pa.Table:
    """Offline features, one row per entity, written at midnight."""
    return pa.table(
        {
            "user_id": [f"u{i:04d}" for i in range(ENTITIES)],
            "feature_time": pa.array([START] * ENTITIES, pa.timestamp("us", tz="UTC")),
            "spend_30d": rng.gamma(2.0, 50.0, ENTITIES).round(2),
            "segment": rng.choice(["new", "regular", "vip"], ENTITIES, p=[0.3, 0.6, 0.1]),
            "age": rng.integers(18, 80, ENTITIES).astype(float),
        }
    )


def _serving(
    offline: pa.Table, rng: np.random.Generator, *, corrupt_share: float, shift_segment: bool
) -> tuple[pa.Table, set[str]]:
    """Serving log: each entity requested once during the day, with the features it was
    served. `corrupt_share` of entities get a stale spend value (value skew)."""
    served = offline.to_pydict()
    spend = np.array(served["spend_30d"])
    corrupt = rng.random(ENTITIES) < corrupt_share
    spend = np.where(corrupt, (spend * 0.5).round(2), spend)
    segment = np.array(served["segment"])
    if shift_segment:
        segment = rng.choice(["new", "regular", "vip"], ENTITIES, p=[0.6, 0.35, 0.05])
    seconds = np.sort(rng.integers(60, 86_000, ENTITIES))
    return pa.table(
        {
            "user_id": served["user_id"],
            "served_at": pa.array(
                [START + timedelta(seconds=int(s)) for s in seconds], pa.timestamp("us", tz="UTC")
            ),
            "spend_30d": spend,
            "segment": segment,
            "age": served["age"],
        }
    ), {served["user_id"][i] for i in np.flatnonzero(corrupt)}


def _scan(
    tmp_path: Path,
    *,
    corrupt_share: float,
    shift_segment: bool = False,
    spark_master: str | None = None,
):
    """Scan the pair through DuckDB, or through Spark when `spark_master` is given."""
    tmp_path.mkdir(exist_ok=True)
    rng = np.random.default_rng(11)
    offline = _offline(rng)
    serving, corrupted = _serving(
        offline, rng, corrupt_share=corrupt_share, shift_segment=shift_segment
    )
    pq.write_table(offline, tmp_path / "offline.parquet")
    pq.write_table(serving, tmp_path / "serving.parquet")
    engine = {"format": "spark", "url": spark_master} if spark_master else {"format": "parquet"}
    config = WardenConfig.model_validate(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'warden.db'}"},
            "datasets": {
                "serving": {
                    **engine,
                    "path": str(tmp_path / "serving.parquet"),
                    "time_column": "served_at",
                    "entity_column": "user_id",
                },
                "features": {
                    **engine,
                    "path": str(tmp_path / "offline.parquet"),
                    "time_column": "feature_time",
                    "entity_column": "user_id",
                },
            },
            "monitors": [
                {
                    "name": "skew",
                    "kind": "skew",
                    "dataset": "serving",
                    "offline": "features",
                    "window": "1d",
                }
            ],
        }
    )
    from daemon.store.engine import open_store

    store = open_store(config.store.url)
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], AT, store)
    store.close()
    assert report is not None
    return report, corrupted


def _alerts(report) -> list[tuple[str, str]]:
    return sorted((f["pattern"], f["column"]) for f in report.findings if f["alert"])


def test_value_skew_on_five_percent_of_entities_is_found_with_their_ids(tmp_path: Path):
    report, corrupted = _scan(tmp_path, corrupt_share=0.05)
    assert report.status == "alert"
    assert _alerts(report) == [("value_skew", "spend_30d")]
    (finding,) = [f for f in report.findings if f["alert"]]
    assert finding["statistic"] == len(corrupted) / ENTITIES
    assert finding["details"]["compared"] == ENTITIES
    samples = finding["details"]["sample_entities"]
    assert len(samples) == 10 and set(samples) <= corrupted
    assert report.summary["unmatched_rate"] == 0.0


def test_value_skew_through_spark_finds_the_same_entities(tmp_path: Path, spark_master: str):
    on_duckdb, corrupted = _scan(tmp_path / "duckdb", corrupt_share=0.05)
    on_spark, _ = _scan(tmp_path / "spark", corrupt_share=0.05, spark_master=spark_master)
    assert on_spark.status == "alert"
    assert _alerts(on_spark) == _alerts(on_duckdb) == [("value_skew", "spend_30d")]
    (finding,) = [f for f in on_spark.findings if f["alert"]]
    assert finding["statistic"] == len(corrupted) / ENTITIES
    assert set(finding["details"]["sample_entities"]) <= corrupted


def test_identical_serving_and_offline_values_raise_nothing(tmp_path: Path):
    report, _ = _scan(tmp_path, corrupt_share=0.0)
    assert report.status == "ok", _alerts(report)
    assert {f["pattern"] for f in report.findings} == {"value_skew", "distribution_skew"}


def test_a_shifted_category_mix_is_distribution_skew(tmp_path: Path):
    report, _ = _scan(tmp_path, corrupt_share=0.0, shift_segment=True)
    assert ("distribution_skew", "segment") in _alerts(report)
    assert ("value_skew", "segment") in _alerts(report)  # the served values differ per entity too
    linf = next(
        f
        for f in report.findings
        if f["pattern"] == "distribution_skew" and f["column"] == "segment"
    )
    assert linf["method"] == "linf" and linf["statistic"] > 0.2
