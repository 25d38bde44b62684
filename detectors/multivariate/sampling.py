"""Seeded bounded samples of a window's rows, drawn by the engine (domain classifier).

The sample is the `limit` rows with the smallest seeded hash of their values
(`engine_queries.row_hash`; ties broken by the values themselves), so the same rows and
seed give the same sample on every run; numeric columns come back as floats, categorical
ones as text. Only the sample crosses into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ibis.expr.types import Table

_KEY = "warden_sample_key"


def sample_query(
    table: Table, numeric: Sequence[str], categorical: Sequence[str], seed: int, limit: int
) -> Table:
    """The seeded sample of `table` (see the module docstring), columns in the order given
    (numeric first)."""
    from detectors.multivariate.engine_queries import row_hash

    selected = {name: table[name].cast("float64") for name in numeric}
    selected.update({name: table[name].cast("string") for name in categorical})
    # Another seed than the reference split's, so the sample is not one of its halves.
    key = row_hash(table, [*numeric, *categorical], seed + 1_000_003)
    keyed = table.select(**selected, **{_KEY: key})
    ordered = keyed.order_by([_KEY, *selected]).limit(limit)
    return ordered.select(*selected)
