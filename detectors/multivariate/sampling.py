"""Seeded bounded samples of a window's rows, drawn by the engine (domain classifier).

The sample is the `limit` rows with the smallest seeded hash of their values (ties broken
by the values themselves), so the same rows and seed give the same sample on every run;
numeric columns come back as floats, categorical ones as text. Only the sample crosses
into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ibis.expr.types import Table

_KEY = "warden_sample_key"


def sample_query(
    table: Table, numeric: Sequence[str], categorical: Sequence[str], seed: int, limit: int
) -> Table:
    """The seeded sample of `table` (see the module docstring), columns in the order given
    (numeric first)."""
    import ibis

    selected = {name: table[name].cast("float64") for name in numeric}
    selected.update({name: table[name].cast("string") for name in categorical})
    text: Any = ibis.literal(f"sample:{int(seed)}")
    for name in [*numeric, *categorical]:
        text = text + "|" + table[name].cast("string").fill_null("\u2205")
    keyed = table.select(**selected, **{_KEY: text.hash()})
    ordered = keyed.order_by([_KEY, *selected]).limit(limit)
    return ordered.select(*selected)
