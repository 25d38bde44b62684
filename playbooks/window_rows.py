"""Reading an incident's window as rows, in a deterministic order with stable row ids.

Label batches and synthetic partitions must come out byte-identical for the same incident
and seed, so the rows of a window are always put in the same order (event time, then row
id) and every row gets an id that does not depend on where it was read from:

- the value of `id_column` when the playbook names one (it must be unique in the window);
- otherwise a content hash: the first 16 hex digits of the sha256 of the row's canonical
  JSON. Identical rows get `-2`, `-3`... suffixes in that order.

>>> json_value(float("nan")) is None
True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from detectors.profiling import window_filter
from detectors.timeparse import parse_instant
from playbooks.base import PlanRefused, PlaybookContext

#: Name of the column that carries each row's id in the frames read here.
ROW_ID = "warden_row_id"


def window_bounds(window: dict[str, Any]) -> tuple[datetime, datetime]:
    """The (start, end) of an incident window given as ISO 8601 text (UTC)."""
    if not window.get("start") or not window.get("end"):
        raise PlanRefused("the incident does not name the window it is about")
    return parse_instant(window["start"]), parse_instant(window["end"])


def read_window(
    context: PlaybookContext,
    window: dict[str, Any],
    *,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    max_rows: int,
) -> pd.DataFrame:
    """The rows of `window` (`columns`, or all), sorted by time then row id, with `ROW_ID`.

    Refuses (PlanRefused) a window of more than `max_rows` rows before reading it, and a
    column the dataset does not have.
    """
    start, end = window_bounds(window)
    time_column = context.dataset.time_column
    with context.source() as source:
        available = list(source.table.schema().names)
        wanted = list(dict.fromkeys([time_column, *(columns or available)]))
        if id_column and id_column not in wanted:
            wanted.append(id_column)
        unknown = [name for name in wanted if name not in available]
        if unknown:
            raise PlanRefused(
                f"dataset {context.dataset.name!r} has no column(s) {', '.join(unknown)}; "
                f"it has {', '.join(available)}"
            )
        rows = window_filter(source.table, time_column, start, end)
        count = int(rows.count().execute())
        if count > max_rows:
            raise PlanRefused(
                f"the window {start.isoformat()} .. {end.isoformat()} holds {count:,} rows, "
                f"more than max_window_rows={max_rows:,}; narrow the window or raise the bound"
            )
        frame = rows.select(*wanted).execute()
    return with_row_ids(frame, time_column, id_column)


def with_row_ids(frame: pd.DataFrame, time_column: str, id_column: str | None) -> pd.DataFrame:
    """`frame` sorted by (time, row id), with the `ROW_ID` column added."""
    if id_column:
        ids = frame[id_column].map(lambda value: str(json_value(value)))
        duplicated = ids[ids.duplicated()]
        if not duplicated.empty:
            raise PlanRefused(
                f"id_column {id_column!r} is not unique in the window "
                f"({duplicated.iloc[0]!r} appears more than once); name a unique column or "
                "leave id_column out to use content hashes"
            )
    else:
        ids = pd.Series([_content_hash(row) for row in _records(frame)], index=frame.index)
    ordered = frame.assign(**{ROW_ID: ids.to_numpy()})
    times = ordered[time_column]
    ordered = ordered.assign(_time_key=times.map(lambda value: str(json_value(value))))
    ordered = ordered.sort_values(["_time_key", ROW_ID], kind="mergesort").drop(columns="_time_key")
    if not id_column:
        ordered[ROW_ID] = _number_duplicates(list(ordered[ROW_ID]))
    return ordered.reset_index(drop=True)


def json_value(value: Any) -> Any:
    """A JSON-ready, deterministic form of one cell: times as ISO 8601 (UTC), missing
    values as None, numpy scalars as Python numbers."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp | datetime):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.ndarray | list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def record(row: pd.Series) -> dict[str, Any]:
    """One row as a JSON-ready dict (column order kept)."""
    return {str(key): json_value(value) for key, value in row.items()}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(name) for name in frame.columns]
    return [
        {name: json_value(value) for name, value in zip(columns, values, strict=True)}
        for values in frame.itertuples(index=False, name=None)
    ]


def _content_hash(row: dict[str, Any]) -> str:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def _number_duplicates(ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    numbered = []
    for row_id in ids:
        seen[row_id] = seen.get(row_id, 0) + 1
        numbered.append(row_id if seen[row_id] == 1 else f"{row_id}-{seen[row_id]}")
    return numbered
