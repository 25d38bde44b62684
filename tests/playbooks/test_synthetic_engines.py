"""The same reference planned on DuckDB over Parquet and on PostgreSQL gives the same seeded
sample, the same fit and a byte-identical synthetic partition and manifest."""

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
from playbooks.synthetic import SyntheticBackfill, SyntheticBackfillParams
from playbooks.synthetic_fit import fit_reference
from tests.playbooks.engine_tables import (
    events_context,
    parquet_events,
    parquet_folder_of,
    postgres_events,
    postgres_table_of,
)

DAY = datetime(2025, 3, 1, tzinfo=UTC)
PLAYBOOK = SyntheticBackfill()
POSTGRES_TYPES = {
    "ts": "TIMESTAMPTZ",
    "account": "TEXT",
    "amount": "DOUBLE PRECISION",
    "visits": "BIGINT",
    "channel": "TEXT",
}


def _events() -> pa.Table:
    """Six days of 300 rows (the seventh is missing), one missing amount a day."""
    rng = np.random.default_rng(11)
    rows = 6 * 300
    seconds = np.sort(rng.uniform(0, 6 * 86_400, rows))
    amount: list[float | None] = rng.lognormal(3, 1, rows).tolist()
    amount[::300] = [None] * 6
    return pa.table(
        {
            "ts": pa.array(
                [DAY + timedelta(seconds=float(s)) for s in seconds], pa.timestamp("us", "UTC")
            ),
            "account": [f"acct-{i % 1500:04d}" for i in range(rows)],  # repeats: not a key
            "amount": pa.array(amount, pa.float64()),
            "visits": rng.poisson(4, rows).astype(np.int64),
            "channel": rng.choice(["app", "web", "phone"], rows).tolist(),
        }
    )


@pytest.fixture(scope="module")
def parquet_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return parquet_folder_of(tmp_path_factory.mktemp("events"), _events())


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    yield from postgres_table_of(_events(), POSTGRES_TYPES)


def _context(config: DatasetConfig, work_root: Path) -> PlaybookContext:
    return events_context(config, work_root, entity_column="account")


def _incident() -> IncidentView:
    partition = (DAY + timedelta(days=6)).isoformat()
    return IncidentView(
        8,
        "events",
        "missing_partition",
        scope={"partition": partition},
        findings=({"details": {"partition": partition, "bucket": "1d"}},),
    )


def _outcomes(context: PlaybookContext, holding: Path) -> dict[str, Any]:
    """The seeded sample (small enough that the time pre-filter thins it), the plan, and
    the files applying it writes; the work root is then moved to `holding`."""
    with context.source() as source:
        fitted = fit_reference(
            source.table,
            time_column="ts",
            start=DAY,
            end=DAY + timedelta(days=6),
            bucket=timedelta(days=1),
            columns=["account", "amount", "visits", "channel"],
            entity_column="account",
            id_column=None,
            seed=3,
            sample_rows=200,
        )
    params = SyntheticBackfillParams(seed=3, sample_rows=500, max_synthetic_share=0.2)
    plan = PLAYBOOK.plan(_incident(), params, context)
    PLAYBOOK.apply(plan, context)
    verified = PLAYBOOK.verify(plan, context)
    target = Path(plan.steps[0].target)
    outcome = {
        "sample": fitted.sample.drop(columns=["ts"]).to_dict("list"),
        "fit": fitted.model.fingerprint(),
        "plan": plan.hash,
        "parquet": target.read_bytes(),
        "manifest": Path(plan.steps[1].target).read_bytes(),
        "verified": verified.ok,
    }
    shutil.move(context.work_root, holding)
    return outcome


@pytest.mark.postgres
def test_postgres_samples_fits_and_writes_what_duckdb_does(
    parquet_folder: Path, postgres_url: str, tmp_path: Path
):
    work = tmp_path / "work"
    duckdb = _outcomes(_context(parquet_events(parquet_folder), work), tmp_path / "duckdb")
    postgres = _outcomes(_context(postgres_events(postgres_url), work), tmp_path / "postgres")
    assert len(duckdb["sample"]["warden_row_id"]) == 200 and duckdb["verified"]
    assert postgres["sample"]["warden_row_id"] == duckdb["sample"]["warden_row_id"]
    assert postgres["fit"] == duckdb["fit"]
    assert postgres["plan"] == duckdb["plan"]
    assert postgres["parquet"] == duckdb["parquet"]
    assert postgres["manifest"] == duckdb["manifest"]


def test_duckdb_draws_the_same_sample_twice(parquet_folder: Path, tmp_path: Path):
    config = DatasetConfig(format="parquet", path=str(parquet_folder), time_column="ts")
    first = _outcomes(_context(config, tmp_path / "work"), tmp_path / "first")
    second = _outcomes(_context(config, tmp_path / "work"), tmp_path / "second")
    assert first == second


def _wide_events() -> pa.Table:
    """Six days of 300 rows of twenty float columns (magnitudes 1e-3 to 1e3) and a text
    column: as wide as the bench's table."""
    rng = np.random.default_rng(12)
    rows = 6 * 300
    seconds = np.sort(rng.uniform(0, 6 * 86_400, rows))
    columns = {f"f{k:02d}": rng.normal(0, 10.0 ** (k % 7 - 3), rows) for k in range(20)}
    return pa.table(
        {
            "ts": pa.array(
                [DAY + timedelta(seconds=float(s)) for s in seconds], pa.timestamp("us", "UTC")
            ),
            "channel": rng.choice(["app", "web", "phone"], rows).tolist(),
            **columns,
        }
    )


@pytest.mark.slow  # a Spark session
def test_spark_samples_a_wide_table_like_duckdb(tmp_path: Path, spark_master: str):
    # Inlined, the canonical text of twenty floats made SQL that ran Spark's parser out of
    # its default heap (OutOfMemoryError in the sample's query); staged, it is parsed.
    (tmp_path / "wide").mkdir()
    folder = parquet_folder_of(tmp_path / "wide", _wide_events())
    names = ["channel", *(f"f{k:02d}" for k in range(20))]
    samples = {}
    for engine, config in {
        "duckdb": DatasetConfig(format="parquet", path=str(folder), time_column="ts"),
        "spark": DatasetConfig(
            format="spark", url=spark_master, path=str(folder), time_column="ts"
        ),
    }.items():
        with _context(config, tmp_path / engine).source() as source:
            fitted = fit_reference(
                source.table,
                time_column="ts",
                start=DAY,
                end=DAY + timedelta(days=6),
                bucket=timedelta(days=1),
                columns=names,
                entity_column=None,
                id_column=None,
                seed=3,
                sample_rows=200,
            )
        samples[engine] = list(fitted.sample["warden_row_id"])
    assert len(samples["duckdb"]) == 200
    assert samples["spark"] == samples["duckdb"]
