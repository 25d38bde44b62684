"""Compiled queries kept beyond one process: stable ids, records, and where they are kept.

A `warden scan` started by cron is a new process each time; without a record of what an
earlier one compiled it would build and compile every query again (about 0.6 s of a cached
scan's 3 s at 1M rows). `detectors.query_plans.QueryPlans` therefore asks a `PlanArchive`
(the store's, `daemon.scan.plan_archive`) for the plans of its table when its own memory
has none, and hands it each plan it compiles.

An archived plan is found by a *plan id*: a hash of
- the table's identity (engine, the table's own SQL, its schema): a schema change is a
  new identity, so its queries are built again;
- the plan key, written out as text (`stable_text`; a key holding anything else than
  text, numbers, booleans, None, instants and tuples of them is not archived);
- the names of the bound parameters (`detectors.profile_queries.NAMED_PARAMETERS`);
- `code_version()`: the Ibis and SQLGlot versions and the source of every module under
  `detectors/`, where the queries are built. Upgrading Warden or Ibis, or editing a query
  builder, changes it, so a plan is never used by code that would build another query.

Config changes need nothing of their own: whatever a query depends on (columns, kinds,
the reference's bin edges) is in its plan key already.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

#: The parts of a plan record, as `PlanArchive` keeps them (JSON-safe).
PlanRecord = dict[str, Any]


class PlanArchive(Protocol):
    """Where compiled queries outlive a process (the store: `daemon.scan.plan_archive`)."""

    def load(self, identity_id: str) -> Mapping[str, PlanRecord]:
        """Every archived record of one table identity (or group), by plan id; {} when
        there are none or the archive cannot be read (a cache: a failure only costs a
        compile)."""
        ...

    def save(
        self, identity_id: str, plan_id: str, record: PlanRecord, *, replace: bool = False
    ) -> None:
        """Keep `record` (written later, in a transaction of the archive's choosing);
        `replace` drops the group's other records when it is written."""
        ...


@dataclass(frozen=True)
class RecordedTable:
    """A table an earlier process opened and recorded (`detectors.sources.recorded_files`):
    what its plans need to run archived queries without the expression layer."""

    #: the engine's name, as Ibis names its backend ("duckdb")
    engine: str
    #: `detectors.query_plans.table_identity` of the table as it was opened then
    identity_id: str
    #: the engine's own connection (DuckDB), on which the table's view exists
    connection: Any
    #: builds the Ibis table on `connection`, when a query must be compiled after all
    open_table: Callable[[], Any]


class NotStable(ValueError):
    """A plan key that cannot be written out the same way by another process."""


def stable_text(value: Any) -> str:
    """`value` as text that every process writes alike, for plan ids.

    Accepts None, booleans, integers, floats (their shortest round-trip form), text,
    instants and dates, and tuples, lists and frozensets of these (frozensets sorted).
    Raises `NotStable` for anything else (an object's default text names its address).
    """
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date):
        return f"@{value.isoformat()}"
    if isinstance(value, tuple | list):
        return "(" + ",".join(stable_text(item) for item in value) + ")"
    if isinstance(value, frozenset):
        return "{" + ",".join(sorted(stable_text(item) for item in value)) + "}"
    raise NotStable(f"a plan key holds a {type(value).__name__}, which has no stable text")


def digest(*parts: str) -> str:
    """The sha256 of `parts` (separated so that no two lists of parts collide), in hex."""
    hasher = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        hasher.update(str(len(encoded)).encode() + b":" + encoded)
    return hasher.hexdigest()


@cache
def code_version() -> str:
    """A hash of what builds and compiles queries: the Ibis, SQLGlot and DuckDB versions and
    the source text of every module under `detectors/` (read once per process, a few ms;
    the versions from the installed packages' metadata, which imports none of them)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "absent"

    root = Path(__file__).resolve().parent
    parts = [f"{name} {installed(name)}" for name in ("ibis-framework", "sqlglot", "duckdb")]
    for path in sorted(root.rglob("*.py")):
        parts.append(str(path.relative_to(root)))
        parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return digest(*parts)[:32]
