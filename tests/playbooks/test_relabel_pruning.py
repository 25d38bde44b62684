"""The score-ordered strategies key (hash) only the rows that can be chosen, and still choose
exactly what keying every row of the window chooses: the same ids, order and scores, with
many rows tied at the boundary score and identical rows (whose `-2`, `-3` ids must be those
of the whole window)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlanRefused, PlaybookContext
from playbooks.engine_rows import ROW_ID, with_row_ids
from playbooks.relabel import RelabelBatch, RelabelParams
from playbooks.selection import RowKeys, top_rows

DAY = datetime(2025, 3, 1, tzinfo=UTC)
PLAYBOOK = RelabelBatch()
CLASSES = ("bird", "cat", "dog")
PROBABILITIES = ("p_bird", "p_cat", "p_dog")
#: Distinct rows per day; the current day repeats each one to four times.
BASE_ROWS = 150
STRATEGIES: dict[str, dict[str, Any]] = {
    "drift_density": {"strategy": "drift_density"},
    "uncertainty": {"strategy": "uncertainty"},
    "uncertainty_classes": {"strategy": "uncertainty", "probability_columns": PROBABILITIES},
    "label_issues": {
        "strategy": "label_issues",
        "probability_columns": PROBABILITIES,
        "class_values": CLASSES,
    },
}


def _day(rng: np.random.Generator, day: int) -> pd.DataFrame:
    """BASE_ROWS rows whose scored columns take few values (so scores tie a lot); on day 1
    the regions and amounts drift and every row is repeated 1-4 times, identically."""
    n = BASE_ROWS
    regions = ["A", "B", "C", "ZZ"] if day else ["A", "B", "C"]
    levels = np.array([[0.6, 0.3, 0.1], [0.1, 0.6, 0.3], [0.3, 0.1, 0.6], [0.2, 0.2, 0.6]])
    probabilities = levels[rng.integers(0, 4, n)]
    frame = pd.DataFrame(
        {
            "ts": [DAY + timedelta(days=day, seconds=60 * i) for i in range(n)],
            "region": rng.choice(regions, n),
            "amount": rng.choice([1.5, 2.5, 4.0 + 4 * day, 0.1], n),
            "prediction": rng.choice([0.5, 0.45, 0.8, 0.99], n),
            "label": rng.choice(CLASSES, n),
            **{name: probabilities[:, k] for k, name in enumerate(PROBABILITIES)},
        }
    )
    if day:
        frame = frame.loc[frame.index.repeat(rng.integers(1, 5, n))].reset_index(drop=True)
    return frame


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.concat([_day(rng, 0), _day(rng, 1)], ignore_index=True)


def _context(tmp_path: Path, frame: pd.DataFrame) -> PlaybookContext:
    folder = tmp_path / "data"
    folder.mkdir(parents=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(0, "ts", pa.array(list(frame["ts"]), pa.timestamp("us", "UTC")))
    pq.write_table(table, folder / "part-0.parquet")
    config = DatasetConfig(format="parquet", path=str(folder), time_column="ts")
    location = DatasetLocation(
        "pets", "parquet", str(folder), "ts", label_column="label", prediction_column="prediction"
    )
    return PlaybookContext(
        location, tmp_path / "work", open_source=partial(open_dataset, "pets", config)
    )


def _incident() -> IncidentView:
    current = {"start": (DAY + timedelta(days=1)).isoformat()}
    current["end"] = (DAY + timedelta(days=2)).isoformat()
    reference = {"start": DAY.isoformat(), "end": current["start"]}
    return IncidentView(
        9,
        "pets",
        "drift",
        columns=("region", "amount"),
        windows={"current": current, "reference": reference},
    )


def _chosen(context: PlaybookContext, batch_size: int, **params: Any) -> tuple[list, list]:
    plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=batch_size, **params), context)
    details = plan.steps[0].details
    return details["row_ids"], details["scores"]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_keying_only_the_candidates_chooses_what_keying_every_row_chooses(
    tmp_path: Path, strategy: str
):
    frame = _frame()
    context = _context(tmp_path, frame)
    window_rows = int((frame["ts"] >= DAY + timedelta(days=1)).sum())
    # A batch as large as the window keys every row (no boundary): the old, full ordering.
    every_id, every_score = _chosen(context, window_rows, **STRATEGIES[strategy])
    tied_boundaries = 0
    for batch_size in (1, 7, 40, 111):
        if batch_size >= len(every_id):
            continue
        ids, scores = _chosen(context, batch_size, **STRATEGIES[strategy])
        assert ids == every_id[:batch_size]
        assert scores == every_score[:batch_size]
        tied_boundaries += every_score[batch_size - 1] == every_score[batch_size]
    assert tied_boundaries >= 2, "the data must tie rows across the boundary score"
    assert any("-" in row_id for row_id in every_id[:40]), "identical rows must be chosen"


def test_top_rows_matches_a_reference_that_hashes_the_whole_window(tmp_path: Path):
    """top_rows against pandas: ids over the whole window, keys md5(id:seed), order by
    (rounded score desc, key), for descending and ascending order."""
    with _context(tmp_path, _frame()).source() as source:
        table = source.table
        window = table.filter(table.ts >= DAY + timedelta(days=1))
        ids = with_row_ids(window, None).execute()
        ids["key"] = [hashlib.md5(f"{i}:5".encode()).hexdigest() for i in ids[ROW_ID]]
        keys = RowKeys(tuple(window.schema().names), None, 5)
        for descending in (True, False):
            ids["order"] = -ids["prediction"] if descending else ids["prediction"]
            expected = ids.sort_values(["order", "key"]).head(25)
            chosen = top_rows(window, window.prediction, 25, descending=descending, keys=keys)
            assert list(chosen.row_ids) == list(expected[ROW_ID])
            assert chosen.scores == pytest.approx(list(expected["prediction"]), abs=1e-9)
            assert any(row_id.endswith("-2") for row_id in chosen.row_ids)


def test_an_id_column_is_checked_over_the_whole_window_not_only_the_chosen_rows(
    tmp_path: Path,
):
    frame = _frame().drop_duplicates(subset=["ts"]).reset_index(drop=True)
    frame["id"] = [f"r{i}" for i in range(len(frame))]
    # Two of the window's most certain rows (never among the 5 chosen) share an id.
    current = frame[frame["ts"] >= DAY + timedelta(days=1)]
    certain = current.index[current["prediction"] == 0.99]
    frame.loc[certain[1], "id"] = frame.loc[certain[0], "id"]
    context = _context(tmp_path, frame)
    with pytest.raises(PlanRefused, match="'id' is not unique in the window"):
        _chosen(context, 5, strategy="uncertainty", id_column="id")
    # Made unique again, the same plan goes through and does not choose those rows.
    frame.loc[certain[1], "id"] = "unique"
    ids, _ = _chosen(_context(tmp_path / "again", frame), 5, strategy="uncertainty", id_column="id")
    assert len(ids) == 5
    assert not set(ids) & set(frame.loc[certain, "id"])
