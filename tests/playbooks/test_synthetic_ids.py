"""synthetic_backfill never models identifiers: the entity column and unique keys get fresh
ids no real row has, verification leaves them out, and bad input is refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlanRefused, PlaybookContext
from playbooks.synthetic import SyntheticBackfill, SyntheticBackfillParams
from playbooks.synthetic_drift import drifted_columns

DAY = datetime(2025, 3, 1, tzinfo=UTC)
ROWS_PER_DAY = 200
MISSING_DAY = 7
PLAYBOOK = SyntheticBackfill()


def _day(day: int, rows: int, rng: np.random.Generator) -> pa.Table:
    start = DAY + timedelta(days=day)
    return pa.table(
        {
            "ts": pa.array(
                [
                    start + timedelta(seconds=float(s))
                    for s in np.sort(rng.uniform(0, 86_399, rows))
                ],
                pa.timestamp("us", "UTC"),
            ),
            "user_id": [f"user-{day}-{i:04d}" for i in range(rows)],
            "order_no": np.arange(day * rows + 1, (day + 1) * rows + 1, dtype=np.int64),
            "amount": rng.lognormal(3, 0.5, rows),
            "kind": rng.choice(["card", "cash", "wire"], rows, p=[0.6, 0.3, 0.1]).tolist(),
        }
    )


def _write(folder: Path, rows_per_day: int = ROWS_PER_DAY, extra: pa.Table | None = None) -> Path:
    rng = np.random.default_rng(7)
    for day in range(MISSING_DAY):
        table = _day(day, rows_per_day, rng)
        if day == 0 and extra is not None:
            table = pa.concat_tables([table, extra])
        target = folder / f"day={day}" / "part-0.parquet"
        target.parent.mkdir(parents=True)
        pq.write_table(table, target)
    return folder


def _context(tmp_path: Path, folder: Path, entity: str | None = "user_id") -> PlaybookContext:
    config = DatasetConfig(format="parquet", path=str(folder), time_column="ts")
    return PlaybookContext(
        DatasetLocation("orders", "parquet", str(folder), "ts", entity_column=entity),
        tmp_path / "warden",
        open_source=partial(open_dataset, "orders", config),
    )


def _incident(day: int = MISSING_DAY) -> IncidentView:
    partition = (DAY + timedelta(days=day)).isoformat()
    return IncidentView(
        21,
        "orders",
        "missing_partition",
        scope={"partition": partition},
        findings=({"details": {"partition": partition, "bucket": "1d"}},),
    )


def _real(folder: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(folder.glob("*/part-0.parquet")))


def test_entity_and_unique_key_columns_get_fresh_ids_and_are_not_drift_checked(tmp_path: Path):
    folder = _write(tmp_path / "data")
    context = _context(tmp_path, folder)
    params = SyntheticBackfillParams(max_synthetic_share=0.5)
    plan = PLAYBOOK.plan(_incident(), params, context)
    details = plan.steps[0].details
    assert details["columns"] == ["amount", "kind"]  # modelled: no identifier
    assert details["identifiers"]["user_id"] == {
        "reason": "entity column",
        "kind": "string",
        "prefix": "syn-21-0-",
    }
    # order_no is unique in the reference: a key, given negative ids of incident 21's block.
    assert details["identifiers"]["order_no"] == {
        "reason": "unique key",
        "kind": "integer",
        "floor": 0,
        "first": -21_000_000_001,
    }
    PLAYBOOK.apply(plan, context)
    generated = pq.read_table(plan.steps[0].target).to_pandas()
    real = _real(folder).to_pandas()
    assert len(generated) == details["rows"] == ROWS_PER_DAY
    assert generated["user_id"].str.startswith("syn-21-0-").all()
    assert generated["user_id"].is_unique and generated["order_no"].is_unique
    assert not set(generated["user_id"]) & set(real["user_id"])
    assert (generated["order_no"] < 0).all() and str(generated["order_no"].dtype) == "int64"
    assert list(generated.columns[:5]) == ["ts", "user_id", "order_no", "amount", "kind"]
    verified = PLAYBOOK.verify(plan, context)
    assert verified.ok, verified.detail
    # What the old backfill tripped on: compared as a distribution, a fresh id always drifts.
    reference = real[real["ts"] < DAY + timedelta(days=MISSING_DAY)]
    columns = ["user_id", "amount", "kind"]
    assert drifted_columns(reference, generated, columns) == ["user_id"]
    assert drifted_columns(reference, generated, columns, identifiers=["user_id"]) == []


def test_a_real_id_with_the_synthetic_prefix_is_refused(tmp_path: Path):
    rows = _day(1, 1, np.random.default_rng(1)).to_pydict()
    rows["user_id"] = ["syn-21-0-5"]
    folder = _write(
        tmp_path / "data", extra=pa.table(rows, schema=_day(0, 1, np.random.default_rng(0)).schema)
    )
    with pytest.raises(PlanRefused, match="synthetic ids would not be fresh"):
        PLAYBOOK.plan(_incident(), SyntheticBackfillParams(), _context(tmp_path, folder))


def test_the_sample_is_bounded_seeded_and_max_reference_rows_is_ignored(tmp_path: Path):
    folder = _write(tmp_path / "data")
    context = _context(tmp_path, folder)
    # 1,400 reference rows, far more than max_reference_rows and than the sample.
    params = SyntheticBackfillParams(sample_rows=100, max_reference_rows=30, seed=4)
    first = PLAYBOOK.plan(_incident(), params, context)
    details = first.steps[0].details
    assert details["reference"]["rows"] == MISSING_DAY * ROWS_PER_DAY
    assert details["sample"] == {"rows": 100, "limit": 100, "row_ids": "content hash"}
    assert PLAYBOOK.plan(_incident(), params, context).hash == first.hash
    other_seed = PLAYBOOK.plan(_incident(), params.model_copy(update={"seed": 5}), context)
    assert other_seed.steps[0].details["fit_sha256"] != details["fit_sha256"]
    by_id = (
        PLAYBOOK.plan(_incident(), params.model_copy(update={"id_column": "order_no"}), context)
        .steps[0]
        .details
    )
    assert by_id["sample"]["row_ids"] == "column order_no"
    assert by_id["identifiers"]["order_no"]["reason"] == "id_column"


@pytest.mark.parametrize(
    ("rows_per_day", "raw", "day", "message"),
    [
        (ROWS_PER_DAY, {}, 40, r"holds 0 rows; the generator needs at least 30"),
        (4, {}, MISSING_DAY, r"holds 28 rows; the generator needs at least 30"),
        (ROWS_PER_DAY, {"columns": ("amount", "nope")}, MISSING_DAY, r"no column\(s\) nope"),
        (ROWS_PER_DAY, {"id_column": "missing"}, MISSING_DAY, r"no column\(s\) missing"),
        (ROWS_PER_DAY, {"id_column": "kind"}, MISSING_DAY, r"id_column 'kind' must be unique"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    tmp_path: Path, rows_per_day: int, raw: dict, day: int, message: str
):
    folder = _write(tmp_path / "data", rows_per_day=rows_per_day)
    context = _context(tmp_path, folder)
    with pytest.raises(PlanRefused, match=message):
        PLAYBOOK.plan(_incident(day), SyntheticBackfillParams(**raw), context)
    assert not (tmp_path / "warden").exists()  # nothing half-written
