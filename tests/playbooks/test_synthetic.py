"""synthetic_backfill fills a missing day with rows that keep the reference's marginals,
correlations and frequencies, within the synthetic-share cap, byte-identical for a seed,
marked, and read only into training splits."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlanRefused, PlaybookContext
from playbooks.synthetic import SyntheticBackfill, SyntheticBackfillParams
from playbooks.synthetic_reader import read_split

DAY = datetime(2025, 3, 1, tzinfo=UTC)
ROWS_PER_DAY = 500
MISSING_DAY = 7  # days 0..9 exist except this one
PLAYBOOK = SyntheticBackfill()


def _day(day: int, rng: np.random.Generator) -> pa.Table:
    start = DAY + timedelta(days=day)
    first, second = rng.standard_normal(ROWS_PER_DAY), rng.standard_normal(ROWS_PER_DAY)
    x = 50 + 5 * first
    x[rng.random(ROWS_PER_DAY) < 0.05] = np.nan  # 5% missing
    return pa.table(
        {
            "ts": pa.array(
                [start + timedelta(seconds=172.8 * i) for i in range(ROWS_PER_DAY)],
                pa.timestamp("us", "UTC"),
            ),
            "x": x,
            "y": 10 + 2 * (0.8 * first + 0.6 * second),  # corr(x, y) = 0.8
            "clicks": rng.poisson(3, ROWS_PER_DAY).astype("int64"),
            "region": rng.choice(["A", "B", "C"], ROWS_PER_DAY, p=[0.5, 0.3, 0.2]).tolist(),
        }
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    rng = np.random.default_rng(42)
    for day in range(10):
        table = _day(day, rng)
        if day == MISSING_DAY:
            continue
        target = folder / f"date={(DAY + timedelta(days=day)).date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True)
        pq.write_table(table, target)
    return folder


def _context(tmp_path: Path, folder: Path) -> PlaybookContext:
    config = DatasetConfig(format="parquet", path=str(folder), time_column="ts")
    return PlaybookContext(
        DatasetLocation("events", "parquet", str(folder), "ts"),
        tmp_path / "warden",
        open_source=partial(open_dataset, "events", config),
    )


def _incident(incident_id: int = 21, pattern: str = "missing_partition") -> IncidentView:
    partition = (DAY + timedelta(days=MISSING_DAY)).isoformat()
    return IncidentView(
        incident_id,
        "events",
        pattern,
        scope={"partition": partition},
        findings=({"pattern": pattern, "details": {"partition": partition, "bucket": "1d"}},),
    )


def _reference(folder: Path) -> pd.DataFrame:
    return pd.concat(
        pq.read_table(path).to_pandas()
        for path in sorted(folder.glob("*/part-0.parquet"))[:MISSING_DAY]
    )


def test_the_plan_caps_the_synthetic_share_of_the_training_window(dataset: Path, tmp_path: Path):
    plan = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(), _context(tmp_path, dataset))
    details = plan.steps[0].details
    # The usual day holds 500 rows; the 30 days up to the partition hold 7 x 500 real rows,
    # and 10% synthetic allows floor(0.1 x 3500 / 0.9) = 388 of them.
    assert details["rows_wanted"] == 500 and details["training_window"]["real_rows"] == 3500
    assert details["rows"] == 388 and details["capped"]
    assert "capped from 500 by max_synthetic_share=0.1" in plan.summary
    assert details["columns"] == ["x", "y", "clicks", "region"]


def test_generated_rows_keep_marginals_correlation_and_frequencies(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    params = SyntheticBackfillParams(rows=2000, max_synthetic_share=0.5, seed=3)
    plan = PLAYBOOK.plan(_incident(), params, context)
    PLAYBOOK.apply(plan, context)
    generated = pq.read_table(plan.steps[0].target).to_pandas()
    reference = _reference(dataset)
    assert len(generated) == 2000
    both = generated.dropna(subset=["x"])
    assert abs(np.corrcoef(both["x"], both["y"])[0, 1] - 0.8) < 0.05
    for column in ("x", "y", "clicks"):
        assert stats.ks_2samp(generated[column].dropna(), reference[column].dropna()).pvalue > 0.01
    assert abs(generated["x"].isna().mean() - reference["x"].isna().mean()) < 0.02
    assert generated["x"].min() >= reference["x"].min()  # within the reference's range
    assert generated["x"].max() <= reference["x"].max()
    shares = generated["region"].value_counts(normalize=True)
    expected = reference["region"].value_counts(normalize=True)
    assert (shares - expected).abs().max() < 0.03
    assert str(generated["clicks"].dtype) == "int64"
    start = DAY + timedelta(days=MISSING_DAY)
    assert generated["ts"].min() >= pd.Timestamp(start)
    assert generated["ts"].max() < pd.Timestamp(start + timedelta(days=1))
    provenance = generated[
        [
            "is_synthetic",
            "synthetic_generator",
            "synthetic_generator_version",
            "synthetic_seed",
            "synthetic_incident_id",
        ]
    ].drop_duplicates()
    assert provenance.values.tolist() == [[True, "gaussian_copula", "2", 3, 21]]
    verified = PLAYBOOK.verify(plan, context)
    assert verified.ok, verified.detail


def test_same_seed_same_bytes_and_another_seed_other_rows(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(seed=7), context)
    PLAYBOOK.apply(plan, context)
    target = Path(plan.steps[0].target)
    manifest = Path(plan.steps[1].target)
    first = target.read_bytes(), manifest.read_bytes()
    shutil.move(target.parent, tmp_path / "first-run")
    again = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(seed=7), context)
    assert again.hash == plan.hash
    PLAYBOOK.apply(again, context)
    assert (target.read_bytes(), manifest.read_bytes()) == first
    assert PLAYBOOK.apply(again, context)[0]["outcome"] == "already written"
    other = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(seed=8), context)
    assert other.hash != plan.hash
    record = json.loads(manifest.read_text())
    assert (record["seed"], record["rows"], record["generator"]) == (7, 388, "gaussian_copula")


def test_verify_catches_generated_rows_that_drift(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(), context)
    PLAYBOOK.apply(plan, context)
    target = Path(plan.steps[0].target)
    broken = pq.read_table(target).to_pandas()
    broken["y"] = broken["y"] + 5  # 2.5 standard deviations off
    pq.write_table(pa.Table.from_pandas(broken, preserve_index=False), target)
    verified = PLAYBOOK.verify(plan, context)
    assert not verified.ok and "drift from the reference in" in verified.detail
    assert "y" in verified.detail.rsplit(" in ", 1)[1].split(", ")


def test_training_splits_get_capped_synthetic_rows_and_evaluation_none(
    dataset: Path, tmp_path: Path
):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(), context)
    PLAYBOOK.apply(plan, context)
    start, end = DAY, DAY + timedelta(days=10)
    evaluation = read_split(context, start, end, "eval")
    assert evaluation.synthetic == 0 and evaluation.real == 4500
    assert not evaluation.rows["is_synthetic"].any()
    training = read_split(context, start, end, "train")
    assert (training.real, training.synthetic, training.left_out) == (4500, 388, 0)
    assert int(training.rows["is_synthetic"].sum()) == 388
    tight = read_split(context, start, end, "train", max_synthetic_share=0.05)
    assert tight.synthetic == 236 and tight.left_out == 388 - 236  # floor(0.05 x 4500 / 0.95)
    assert tight.synthetic / len(tight.rows) <= 0.05


def test_a_second_backfill_counts_the_first_against_the_cap(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    first = PLAYBOOK.plan(_incident(21), SyntheticBackfillParams(), context)
    PLAYBOOK.apply(first, context)
    # (0.1 x (3500 + 388) - 388) / 0.9 < 1: nothing more fits under 10%.
    with pytest.raises(PlanRefused, match=r"would exceed max_synthetic_share=0\.1"):
        PLAYBOOK.plan(_incident(22), SyntheticBackfillParams(), context)
    # Under 20%: (0.2 x (3500 + 388) - 388) / 0.8 = 487.
    second = PLAYBOOK.plan(_incident(22), SyntheticBackfillParams(max_synthetic_share=0.2), context)
    details = second.steps[0].details
    assert details["training_window"]["other_synthetic_rows"] == 388 and details["rows"] == 487


def test_rollback_sets_the_file_aside_and_training_no_longer_reads_it(
    dataset: Path, tmp_path: Path
):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(), context)
    PLAYBOOK.apply(plan, context)
    PLAYBOOK.rollback(plan, context)
    target = Path(plan.steps[0].target)
    assert not target.exists() and (target.parent / "rolled-back" / target.name).exists()
    assert json.loads(Path(plan.steps[1].target).read_text())["status"] == "rolled back"
    training = read_split(context, DAY, DAY + timedelta(days=10), "train")
    assert training.synthetic == 0


def test_an_incident_without_a_partition_is_refused(dataset: Path, tmp_path: Path):
    incident = IncidentView(5, "events", "feature_drift", columns=("x",))
    with pytest.raises(PlanRefused, match="fills a partition"):
        PLAYBOOK.plan(incident, SyntheticBackfillParams(), _context(tmp_path, dataset))


def test_apply_refuses_when_the_reference_changed(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), SyntheticBackfillParams(), context)
    shutil.move(dataset / "date=2025-03-02", tmp_path / "moved-away")
    with pytest.raises(RuntimeError, match="data changed since the plan"):
        PLAYBOOK.apply(plan, context)
