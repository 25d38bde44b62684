"""An incident's window and its cells as plans write them.

- `window_bounds`: the (start, end) an incident names, refused when it names none;
- `json_value`: one cell in a JSON-ready, deterministic form (times as ISO 8601 in UTC,
  missing values as None, numpy scalars as Python numbers), for tasks and manifests.

Rows themselves are never read here: plans select them in the engine (`engine_rows.py`).

>>> json_value(float("nan")) is None
True
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from detectors.timeparse import parse_instant
from playbooks.base import PlanRefused


def window_bounds(window: dict[str, Any]) -> tuple[datetime, datetime]:
    """The (start, end) of an incident window given as ISO 8601 text (UTC)."""
    if not window.get("start") or not window.get("end"):
        raise PlanRefused("the incident does not name the window it is about")
    return parse_instant(window["start"]), parse_instant(window["end"])


def json_value(value: Any) -> Any:
    """A JSON-ready, deterministic form of one cell: times as ISO 8601 (UTC), missing
    values as None, numpy scalars as Python numbers.

    pandas values (from a plan that reads a data frame) are handled when pandas is loaded;
    it is not imported here, since no other cell can be one of them."""
    pd = sys.modules.get("pandas")
    if value is None or (pd is not None and value is pd.NaT):
        return None
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if pd is not None and isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        return value.isoformat() + "Z"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
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
    if pd is not None:
        try:
            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    return str(value)
