"""Reading a dataset for training or evaluation, with synthetic partitions where allowed.

Synthetic partitions (`synthetic.py`) live under `<work_root>/synthetic/<dataset>/`, never in
the dataset itself. `read_split` is how a training job gets them:

- `split="eval"`: the real rows only. Rows marked `is_synthetic` are dropped even if someone
  copied them into the dataset: synthetic rows never enter an evaluation split.
- `split="train"`: the real rows plus the synthetic rows of the window, capped so that they
  make at most `max_synthetic_share` of the result (oldest partition first, then by
  incident, rows in time order; the rest is left out and counted in `SplitRows.left_out`).

Every returned row has `is_synthetic`; real rows have False and no generator provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow.parquet as pq

from detectors.profile_queries import window_filter
from playbooks.base import PlaybookContext

#: Columns every synthetic row carries.
PROVENANCE = (
    "is_synthetic",
    "synthetic_generator",
    "synthetic_generator_version",
    "synthetic_seed",
    "synthetic_incident_id",
)
_INCIDENT = re.compile(r"^incident-(\d+)\.parquet$")


@dataclass(frozen=True)
class SplitRows:
    rows: pd.DataFrame
    real: int
    synthetic: int
    #: Synthetic rows of the window that the cap left out.
    left_out: int


def synthetic_files(context: PlaybookContext) -> list[tuple[int, Path]]:
    """(incident id, file) of every synthetic partition of the dataset, oldest first."""
    root = context.work_root / "synthetic" / context.dataset.name
    found = []
    for path in sorted(root.glob("partition=*/incident-*.parquet")):
        match = _INCIDENT.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


def synthetic_rows_between(
    context: PlaybookContext, start: datetime, end: datetime, *, exclude_incident: int | None
) -> int:
    """Synthetic rows with start <= time < end, over the dataset's synthetic partitions."""
    total = 0
    for incident, path in synthetic_files(context):
        if incident != exclude_incident:
            total += len(_between(_read(path, [context.dataset.time_column]), context, start, end))
    return total


def read_split(
    context: PlaybookContext,
    start: datetime,
    end: datetime,
    split: Literal["train", "eval"],
    *,
    max_synthetic_share: float = 0.10,
) -> SplitRows:
    """The rows of [start, end) for a training or evaluation split (see the module doc)."""
    if not 0 <= max_synthetic_share < 1:
        raise ValueError("max_synthetic_share must be in [0, 1)")
    with context.source() as source:
        real = window_filter(source.table, context.dataset.time_column, start, end).execute()
    if "is_synthetic" in real.columns:
        real = real[~real["is_synthetic"].fillna(False).astype(bool)]
    time_column = context.dataset.time_column
    # Naive times hold UTC (Warden's convention); synthetic files store them zoned.
    real = real.assign(
        **{time_column: pd.to_datetime(real[time_column], utc=True)}, is_synthetic=False
    )
    if split == "eval":
        return SplitRows(real.reset_index(drop=True), len(real), 0, 0)
    parts = [
        _between(_read(path), context, start, end).sort_values(
            context.dataset.time_column, kind="mergesort"
        )
        for _, path in synthetic_files(context)
    ]
    synthetic = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    allowed = int(max_synthetic_share * len(real) // (1 - max_synthetic_share))
    kept = synthetic.head(allowed)
    rows = pd.concat([real, kept], ignore_index=True) if len(kept) else real
    return SplitRows(rows.reset_index(drop=True), len(real), len(kept), len(synthetic) - len(kept))


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    return pq.read_table(path, columns=columns).to_pandas()


def _between(
    frame: pd.DataFrame, context: PlaybookContext, start: datetime, end: datetime
) -> pd.DataFrame:
    times = pd.to_datetime(frame[context.dataset.time_column], utc=True)
    return frame[(times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))]
