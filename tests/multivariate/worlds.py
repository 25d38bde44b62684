"""Seeded data for the multivariate tests: two correlated pairs (one skewed) and a
segment column, whose x0-x1 correlation a test can change with the marginals kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import numpy as np
import pandas as pd

from detectors.multivariate.encoding import Encoding, encode_columns
from detectors.sources.base import DatasetSource

START = datetime(2024, 1, 1, tzinfo=UTC)
COLUMNS = ["x0", "x1", "x2", "x3", "segment"]


def rows(
    rng: np.random.Generator,
    n: int,
    *,
    rho: float = 0.8,
    start: datetime = START,
    step: timedelta = timedelta(seconds=1),
    segment_follows_x0: bool = False,
) -> pd.DataFrame:
    """`n` rows: x0, x1 standard normal with correlation `rho`; x2 lognormal and x3
    correlated with log(x2); `segment` a, b or c (50/30/20%), independent of the rest
    unless `segment_follows_x0` (then mostly 'a' when x0 > 0, keeping the shares)."""
    x0 = rng.normal(size=n)
    x1 = rho * x0 + np.sqrt(1 - rho**2) * rng.normal(size=n)
    log_x2 = rng.normal(size=n)
    x3 = 0.5 * log_x2 + rng.normal(size=n)
    segment = rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2])
    if segment_follows_x0:
        order = np.argsort(-x0)
        segment = np.empty(n, dtype=object)
        segment[order] = np.array(["a"] * (n // 2) + ["b"] * (3 * n // 10) + ["c"] * n)[:n]
    times = pd.date_range(start, periods=n, freq=pd.Timedelta(step), tz="UTC")
    return pd.DataFrame(
        {"ts": times, "x0": x0, "x1": x1, "x2": np.exp(log_x2), "x3": x3, "segment": segment}
    )


def source(frame: pd.DataFrame, name: str = "events") -> DatasetSource:
    """`frame` as a DuckDB table read the way a scan reads a dataset."""
    return DatasetSource(name, ibis.memtable(frame), time_column="ts")


def encoding_of(dataset: DatasetSource, columns: list[str] = COLUMNS) -> Encoding:
    profile = dataset.profile(None, None, columns)
    return encode_columns({name: profile.columns[name] for name in columns}, max_categories=20)
