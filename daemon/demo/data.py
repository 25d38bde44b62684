"""The demo dataset: daily Parquet partitions of loan applications with injected faults.

Seeded, so every run writes byte-identical data. The calendar (UTC):
- 2025-01-01 .. 2025-01-28: the clean reference month (4 weeks).
- 2025-01-29 .. 2025-02-11: recent days, where
  - 2025-02-03 never arrives (`missing_partition`),
  - from 2025-02-06 salaries shift up by one standard deviation and the "north" region
    doubles its share (`feature_drift`), and the model's scores follow (`prediction_drift`),
  - 2025-02-09 arrives with 35% of credit scores null (`null_spike`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20250101
ROWS_PER_DAY = 1500
FIRST_DAY = date(2025, 1, 1)
REFERENCE_END = date(2025, 1, 28)
LAST_DAY = date(2025, 2, 11)
MISSING_DAY = date(2025, 2, 3)
DRIFT_FROM = date(2025, 2, 6)
NULL_SPIKE_DAY = date(2025, 2, 9)
REGIONS = ("north", "south", "east", "west", "central")
PRODUCTS = ("personal", "auto", "home", "student")


@dataclass(frozen=True)
class DemoData:
    folder: Path
    days: int
    rows: int


def _day_table(day: date, rng: np.random.Generator) -> pa.Table:
    n = ROWS_PER_DAY
    drifted = day >= DRIFT_FROM
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86400, n))
    timestamps = [start + timedelta(seconds=int(s)) for s in seconds]
    age = rng.normal(41, 11, n).clip(18, 90).round()
    salary = rng.lognormal(10.8, 0.35, n)
    if drifted:
        salary = salary + salary.std()
    car_value = rng.gamma(4.0, 5000.0, n)
    credit_score = rng.normal(680, 60, n).clip(300, 850).round()
    region_shares = np.array([0.2, 0.2, 0.2, 0.2, 0.2])
    if drifted:
        region_shares = np.array([0.4, 0.15, 0.15, 0.15, 0.15])
    region = rng.choice(REGIONS, n, p=region_shares)
    product = rng.choice(PRODUCTS, n, p=[0.4, 0.3, 0.2, 0.1])
    score = 1 / (1 + np.exp(-((credit_score - 680) / 60 + (np.log(salary) - 10.8) / 0.35 * 0.5)))
    repaid = (rng.random(n) < score).astype(np.int64)
    credit = pa.array(credit_score)
    if day == NULL_SPIKE_DAY:
        mask = rng.random(n) < 0.35
        credit = pa.array(
            [None if m else float(v) for m, v in zip(mask, credit_score, strict=True)], pa.float64()
        )
    ids = [f"{day.isoformat()}-{i:05d}" for i in range(n)]
    return pa.table(
        {
            "timestamp": pa.array(timestamps, pa.timestamp("us", tz="UTC")),
            "id": ids,
            "age": age,
            "salary": salary.round(2),
            "car_value": car_value.round(2),
            "credit_score": credit,
            "region": region,
            "product": product,
            "y_pred_proba": score.round(4),
            "repaid": repaid,
        }
    )


def generate(folder: Path) -> DemoData:
    """Write one hive partition per day: folder/date=YYYY-MM-DD/part-0.parquet."""
    rng = np.random.default_rng(SEED)
    day, days, rows = FIRST_DAY, 0, 0
    while day <= LAST_DAY:
        table = _day_table(day, rng)  # drawn even for the missing day, so other days do not shift
        if day != MISSING_DAY:
            target = folder / f"date={day.isoformat()}"
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target / "part-0.parquet")
            days += 1
            rows += table.num_rows
        day += timedelta(days=1)
    return DemoData(folder, days, rows)
