"""Where a process keeps its compiled queries: `PlanStore`, one per process by default.

`detectors.query_plans` compiles each query a scan runs once; this module holds what it
keeps (the compiled SQL with its sentinels, hints such as a window's last size, and the
records an archive gave that were not used yet), least recently used dropped beyond a
capacity, and the `QueryResult` a query returns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from detectors.plan_records import PlanRecord

#: Plans kept per process: a monitor needs about eight (its profiles, the reference's
#: signature, a freshness timeline), monitors of one dataset and reference share them, so
#: this holds a thousand distinct monitors' plans; least recently used ones are dropped.
#: Most are a few hundred bytes of SQL, a wide table's aggregate some tens of kB.
DEFAULT_CAPACITY = 8192


@dataclass(frozen=True)
class QueryResult:
    """A query's rows as tuples, and its column names in order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def first(self) -> dict[str, Any]:
        """The first row by column name (an aggregate's only row); {} when there is none."""
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else {}

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class CompiledQuery:
    """SQL compiled with a sentinel in place of each parameter's value."""

    sql: str
    #: (the parameter's name, or its Ibis operation; the sentinel's literal in `sql`)
    sentinels: tuple[tuple[Any, str], ...]
    columns: tuple[str, ...]


class _Bounded(OrderedDict[Hashable, Any]):
    """A dict that forgets its least recently written entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: Hashable, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class PlanStore:
    """Compiled queries and hints by (table identity, key), least recently used dropped
    beyond `capacity` each; thread-safe. One per process (`SHARED_PLANS`) by default."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._plans: _Bounded = _Bounded(capacity)
        self._hints: _Bounded = _Bounded(capacity)
        #: identity id -> archived records not yet taken as plans (`archived`)
        self._archived: dict[str, dict[str, PlanRecord]] = {}
        self._lock = threading.Lock()

    def plan(self, key: Hashable) -> tuple[bool, CompiledQuery | None]:
        """(whether `key` was planned, its plan: None when it cannot be)."""
        with self._lock:
            if key not in self._plans:
                return False, None
            self._plans.move_to_end(key)
            return True, self._plans[key]

    def keep(self, key: Hashable, plan: CompiledQuery | None) -> None:
        with self._lock:
            self._plans[key] = plan

    def hint(self, key: Hashable) -> Any:
        with self._lock:
            return self._hints.get(key)

    def set_hint(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._hints[key] = value

    def archived(
        self,
        identity_id: str,
        plan_id: str,
        load: Callable[[str], Mapping[str, PlanRecord]],
    ) -> PlanRecord | None:
        """The archived record `plan_id` of a table identity, taken out of what `load`
        gave for the identity (called once per identity): a record is kept in memory
        until its plan is (then as a plan, under `keep`'s capacity)."""
        with self._lock:
            records = self._archived.get(identity_id)
        if records is None:
            loaded = dict(load(identity_id))  # outside the lock: it reads the store
            with self._lock:
                records = self._archived.setdefault(identity_id, loaded)
        with self._lock:
            return records.pop(plan_id, None)

    def planned(self) -> list[Hashable]:
        """The planned keys, least recently used first (the tests read them)."""
        with self._lock:
            return list(self._plans)


#: The process's plans: every source whose table compiles to the same SQL with the same
#: schema on the same kind of engine shares them (the sources a daemon opens on several
#: DuckDB instances of one dataset, or afresh for each scan of a SQL table).
SHARED_PLANS = PlanStore()
