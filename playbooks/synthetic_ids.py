"""Identifier columns of a synthetic backfill, and the fresh ids generated rows get.

An identifier names a row or an entity; its distribution means nothing, and generating
real values would make synthetic rows pose as real entities. A column is an identifier when

- it is the dataset's `entity_column` or the playbook's `id_column`, or
- it is a unique key of the reference: a string or integer column whose engine
  `count(distinct)` equals its non-null row count (at least 2 values).

Identifiers are never modelled nor drift-checked. Each generated row gets a fresh id that
cannot be a real one:

- strings: `syn-<incident>-<seed>-<n>` (n = 0, 1, ...); the plan refuses when any row of
  the dataset already has a value with that prefix;
- integers: negative, `floor - 1 - (incident * 10^9 + n)`, where `floor` is the smaller of 0
  and the column's smallest value in the whole dataset (engine `min`). Negative ids never
  meet the positive ids of real data, and backfills of different incidents get disjoint
  blocks of a billion ids. Ids above the maximum were rejected: real ids keep growing past
  it, and a later real row would then take a synthetic row's id.

>>> fresh_values({"kind": "string", "prefix": "syn-7-0-"}, 3)
['syn-7-0-0', 'syn-7-0-1', 'syn-7-0-2']
>>> fresh_values({"kind": "integer", "first": -7000000001}, 2)
[-7000000001, -7000000002]
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from playbooks.base import PlanRefused

#: Fresh integer ids of one incident (a block per incident).
INTEGER_BLOCK = 1_000_000_000
_INT64_MIN = -(2**63)


def fresh_ids(
    table: ir.Table, name: str, reason: str, *, incident_id: int, seed: int, rows: int
) -> dict[str, Any]:
    """How generated rows get fresh values of identifier `name` (for the plan): checks the
    whole dataset `table` (one engine aggregate) so that none can be a real value."""
    kind = table.schema()[name]
    if kind.is_string():
        prefix = f"syn-{incident_id}-{seed}-"
        taken = int(table.filter(table[name].startswith(prefix)).count().execute())
        if taken:
            raise PlanRefused(
                f"{taken:,} rows of the dataset already have a {name!r} starting with "
                f"{prefix!r}; synthetic ids would not be fresh"
            )
        return {"reason": reason, "kind": "string", "prefix": prefix}
    if kind.is_integer():
        smallest = table.aggregate(low=table[name].min()).execute()["low"].iloc[0]
        floor = min(0, int(smallest)) if smallest is not None and smallest == smallest else 0
        first = floor - 1 - incident_id * INTEGER_BLOCK
        if first - rows < _INT64_MIN:
            raise PlanRefused(f"no room for fresh negative {name!r} ids below {floor}")
        return {"reason": reason, "kind": "integer", "floor": floor, "first": first}
    raise PlanRefused(
        f"identifier column {name!r} is of type {kind}; synthetic rows can only get fresh "
        "string or integer ids. Leave it out with the `columns` param"
    )


def fresh_values(spec: dict[str, Any], rows: int) -> list[Any]:
    """The fresh ids of `rows` generated rows, as planned by `fresh_ids`."""
    if spec["kind"] == "string":
        return [f"{spec['prefix']}{n}" for n in range(rows)]
    return [int(spec["first"]) - n for n in range(rows)]


def still_fresh(table: ir.Table, name: str, spec: dict[str, Any], rows: int) -> bool:
    """Whether no real row of `table` has one of the generated ids (one engine aggregate)."""
    column = table[name]
    if spec["kind"] == "string":
        clash = column.startswith(spec["prefix"])
    else:
        clash = (column <= int(spec["first"])) & (column > int(spec["first"]) - rows)
    return int(table.filter(clash).count().execute()) == 0
