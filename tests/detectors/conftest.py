"""Helpers to build profiles the way the engine does, from seeded in-memory data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import numpy as np
import pandas as pd
import pytest

from detectors.profile import WindowProfile
from detectors.profiling import ProfileOptions, profile_window

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def frame(
    columns: dict[str, np.ndarray | list],
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    data = {"ts": [start + i * step for i in range(n)], **columns}
    return pd.DataFrame(data)


def profiles(
    reference: pd.DataFrame, current: pd.DataFrame, options: ProfileOptions | None = None
) -> tuple[WindowProfile, WindowProfile]:
    """Reference and current profiles computed by DuckDB through Ibis, as a scan would."""
    columns = [c for c in reference.columns if c != "ts"]
    ref_table = ibis.memtable(reference)
    cur_table = ibis.memtable(current)
    ref = profile_window(
        ref_table,
        dataset="d",
        time_column="ts",
        start=None,
        end=None,
        columns=columns,
        options=options,
    )
    cur = profile_window(
        cur_table,
        dataset="d",
        time_column="ts",
        start=None,
        end=None,
        columns=columns,
        reference=ref,
        options=options,
    )
    return ref, cur


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
