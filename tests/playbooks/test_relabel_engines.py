"""The same data planned on DuckDB over Parquet, on PostgreSQL and on Spark gives the same
row ids, the same selection for every strategy, and byte-identical tasks and manifest."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from daemon.config.models import DatasetConfig
from playbooks.base import IncidentView, PlaybookContext
from playbooks.engine_rows import ROW_ID, with_row_ids
from playbooks.relabel import RelabelBatch, RelabelParams
from tests.playbooks.engine_tables import (
    events_context,
    parquet_events,
    parquet_folder_of,
    postgres_events,
    postgres_table_of,
)

DAY = datetime(2025, 3, 1, tzinfo=UTC)
PLAYBOOK = RelabelBatch()
ROWS_PER_DAY = 400
CLASSES = ("bird", "cat", "dog")
PROBABILITIES = ("p_bird", "p_cat", "p_dog")
STRATEGIES: dict[str, dict[str, Any]] = {
    "drift_density": {"strategy": "drift_density"},
    "uncertainty": {"strategy": "uncertainty"},
    "uncertainty_classes": {"strategy": "uncertainty", "probability_columns": PROBABILITIES},
    "stratified_time": {"strategy": "stratified"},
    "stratified_region": {"strategy": "stratified", "stratify_by": "region"},
    "label_issues": {
        "strategy": "label_issues",
        "probability_columns": PROBABILITIES,
        "class_values": CLASSES,
    },
}
POSTGRES_TYPES = {
    "ts": "TIMESTAMPTZ",
    "amount": "DOUBLE PRECISION",
    "region": "TEXT",
    "score": "DOUBLE PRECISION",
    "label": "TEXT",
    "p_bird": "DOUBLE PRECISION",
    "p_cat": "DOUBLE PRECISION",
    "p_dog": "DOUBLE PRECISION",
    "visits": "BIGINT",
    "flagged": "BOOLEAN",
}


def _events() -> pa.Table:
    """Two days; the second drifts (amount up, region ZZ appears), with a missing amount
    and three exact duplicate rows, whose ids must still differ."""
    rng = np.random.default_rng(42)
    days = []
    for day in (0, 1):
        n = ROWS_PER_DAY
        regions = rng.choice(["A", "B", "C", "ZZ"] if day else ["A", "B", "C"], n)
        logits = rng.normal(0, 2, (n, 3))
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        amount = rng.lognormal(3 + 0.5 * day, 1, n)
        amount[7] = np.nan
        days.append(
            {
                "ts": [
                    DAY + timedelta(days=day, seconds=float(s))
                    for s in np.sort(rng.uniform(0, 86_399, n))
                ],
                "amount": amount,
                "region": regions,
                "score": rng.uniform(0, 1, n),
                "label": rng.choice(CLASSES, n),
                "p_bird": probabilities[:, 0],
                "p_cat": probabilities[:, 1],
                "p_dog": probabilities[:, 2],
                "visits": rng.integers(-5, 2**40, n),
                "flagged": rng.uniform(0, 1, n) < 0.3,
            }
        )
    columns: dict[str, Any] = {
        name: np.concatenate([day[name] for day in days]) for name in days[0]
    }
    columns["amount"] = [None if np.isnan(v) else float(v) for v in columns["amount"]]
    columns["ts"] = pa.array(list(columns["ts"]), pa.timestamp("us", "UTC"))
    table = pa.table(columns)
    duplicate = table.slice(ROWS_PER_DAY + 3, 1)
    return pa.concat_tables([table, duplicate, duplicate])


@pytest.fixture(scope="module")
def parquet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return parquet_folder_of(tmp_path_factory.mktemp("events"), _events())


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    yield from postgres_table_of(_events(), POSTGRES_TYPES)


def _context(config: DatasetConfig, work_root: Path) -> PlaybookContext:
    return events_context(config, work_root, label_column="label", prediction_column="score")


def _incident() -> IncidentView:
    def window(day: int) -> dict[str, str]:
        start = DAY + timedelta(days=day)
        return {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}

    return IncidentView(
        21,
        "events",
        "feature_drift",
        columns=("region", "amount"),
        windows={"current": window(1), "reference": window(0)},
        # amount's bins come from the scan's evidence, region's are counted by the engine
        findings=(
            {
                "pattern": "feature_drift",
                "column": "amount",
                "details": {
                    "histogram": {
                        "bins": ["<= 10", "<= 20", "<= 40", "<= 80", "> 80"],
                        "reference": [80, 100, 120, 70, 30],
                        "current": [40, 80, 120, 100, 60],
                        "edges": [10.0, 20.0, 40.0, 80.0],
                    }
                },
            },
        ),
    )


def _outcomes(context: PlaybookContext, holding: Path) -> dict[str, Any]:
    """Every strategy's plan, and the files written by applying the label_issues plan;
    the work root is moved to `holding` afterwards so the next engine writes the same
    paths."""
    with context.source() as source:
        ids = with_row_ids(source.table, None).select(ROW_ID).execute()[ROW_ID]
    outcomes: dict[str, Any] = {"row_ids": sorted(ids)}
    for name, raw in STRATEGIES.items():
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=40, seed=3, **raw), context)
        outcomes[name] = plan
    applied = outcomes["label_issues"]
    PLAYBOOK.apply(applied, context)
    folder = Path(applied.steps[1].target).parent
    for file in ("tasks.jsonl", "manifest.json"):
        outcomes[file] = (folder / file).read_bytes()
    shutil.move(context.work_root, holding)
    return outcomes


def _assert_same(theirs: dict[str, Any], duckdb: dict[str, Any]) -> None:
    assert len(duckdb["row_ids"]) == 2 * ROWS_PER_DAY + 2
    assert len(set(duckdb["row_ids"])) == len(duckdb["row_ids"])  # duplicates numbered
    assert sum(row_id.endswith(("-2", "-3")) for row_id in duckdb["row_ids"]) == 2
    assert theirs["row_ids"] == duckdb["row_ids"]
    for name in STRATEGIES:
        ours, reference = theirs[name], duckdb[name]
        assert ours.steps[0].details["row_ids"] == reference.steps[0].details["row_ids"], name
        assert ours.steps[0].details["scores"] == pytest.approx(
            reference.steps[0].details["scores"], abs=1e-6
        ), name
        assert len(reference.steps[0].details["row_ids"]) > 0, name
    assert theirs["tasks.jsonl"] == duckdb["tasks.jsonl"]
    assert theirs["manifest.json"] == duckdb["manifest.json"]


@pytest.mark.postgres
def test_postgres_plans_and_writes_what_duckdb_does(
    parquet_folder: Path, postgres_url: str, tmp_path: Path
):
    work = tmp_path / "work"
    duckdb = _outcomes(_context(parquet_events(parquet_folder), work), tmp_path / "duckdb")
    postgres = _outcomes(_context(postgres_events(postgres_url), work), tmp_path / "postgres")
    _assert_same(postgres, duckdb)


@pytest.mark.slow  # about two minutes: Spark runs each of the plans' small queries as a job
def test_spark_plans_and_writes_what_duckdb_does(
    parquet_folder: Path, spark_master: str, tmp_path: Path
):
    work = tmp_path / "work"
    duckdb = _outcomes(
        _context(DatasetConfig(format="parquet", path=str(parquet_folder), time_column="ts"), work),
        tmp_path / "duckdb",
    )
    spark = _outcomes(
        _context(
            DatasetConfig(
                format="spark", url=spark_master, path=str(parquet_folder), time_column="ts"
            ),
            work,
        ),
        tmp_path / "spark",
    )
    _assert_same(spark, duckdb)


@pytest.mark.slow  # a Spark session and a handful of jobs
def test_spark_reads_times_without_a_zone_as_utc_like_duckdb(tmp_path: Path, spark_master: str):
    # Spark reads such a Parquet column as TIMESTAMP_NTZ, which its unix_micros refuses.
    events = _events()
    naive = events.set_column(
        events.schema.get_field_index("ts"), "ts", events["ts"].cast(pa.timestamp("us"))
    )
    (tmp_path / "naive").mkdir()
    folder = parquet_folder_of(tmp_path / "naive", naive)
    plans = {}
    for engine, config in {
        "duckdb": DatasetConfig(format="parquet", path=str(folder), time_column="ts"),
        "spark": DatasetConfig(
            format="spark", url=spark_master, path=str(folder), time_column="ts"
        ),
    }.items():
        context = _context(config, tmp_path / engine)
        params = RelabelParams(batch_size=40, seed=3, **STRATEGIES["stratified_time"])
        plans[engine] = PLAYBOOK.plan(_incident(), params, context).steps[0].details["row_ids"]
    assert len(plans["duckdb"]) == 40
    assert plans["spark"] == plans["duckdb"]
