"""Does a generated sample look like its reference? Warden's own drift detector decides.

The reference side is the seeded engine sample the generator learnt from (at most
`sample_rows` rows, `synthetic_sample.py`), never a full read of the reference window.
Identifier columns (`synthetic_ids.py`) are left out: fresh ids are meant to differ from
every real one, so comparing their distributions would always "drift".

Both frames are profiled with the same code the monitors use (DuckDB through Ibis, the
reference's bins for the sample) and compared with `detect_drift` at its defaults: the
column methods, thresholds and the multiple-testing correction a drift monitor would use.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd

from detectors.drift.detector import detect_drift
from detectors.profiling import profile_window
from detectors.results import Status


def drifted_columns(
    reference: pd.DataFrame,
    generated: pd.DataFrame,
    columns: Sequence[str],
    *,
    identifiers: Sequence[str] = (),
) -> list[str]:
    """The columns in which `generated` drifts from `reference` (empty: none drifts),
    among `columns` but never `identifiers`.

    Raises ValueError when the detector cannot compare them (too few rows).
    """
    skipped = set(identifiers)
    wanted = [name for name in columns if name in generated.columns and name not in skipped]
    if not wanted:
        return []
    backend = ibis.duckdb.connect()
    # Registered as DuckDB views of the frames (no copy).
    backend.con.register("reference_rows", reference[wanted].reset_index(drop=True))
    backend.con.register("generated_rows", generated[wanted].reset_index(drop=True))
    reference_table = backend.table("reference_rows")
    generated_table = backend.table("generated_rows")

    def profile(table, baseline=None):
        return profile_window(
            table.mutate(_t=ibis.literal(0)),
            dataset="synthetic",
            time_column="_t",
            start=None,
            end=None,
            columns=wanted,
            reference=baseline,
        )

    baseline = profile(reference_table)
    result = detect_drift(baseline, profile(generated_table, baseline))
    if result.status == Status.insufficient_data:
        raise ValueError(f"the generated rows cannot be compared: {result.message}")
    return sorted({f.column for f in result.alerts if f.column})
