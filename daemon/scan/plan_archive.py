"""The store as the archive of compiled queries (`detectors.plan_records.PlanArchive`).

A scan hands each query it compiled to the store's archive; the archive writes them in
the transaction that records the scan's result (`flush`, from `daemon.scan.runner`), so
keeping plans costs no transaction of its own. The next process (a `warden scan` from
cron, a restarted daemon) reads a table's plans in one query the first time it needs one
and compiles none of them again. It is a cache: a plan lost with a rolled-back
transaction, or a store that cannot be read, only costs a compile.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from daemon.store.engine import Store
from daemon.store.errors import StoreError
from daemon.store.models import CompiledQueryPlan
from daemon.store.types import utcnow
from detectors.plan_records import PlanRecord, code_version

log = logging.getLogger(__name__)

#: Plans written per INSERT statement (5 values each: SQLite binds at most 32,766).
ROWS_PER_INSERT = 500


class StorePlanArchive:
    """Compiled queries kept in one store's `compiled_query` table; thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: plan id -> (identity id, JSON, whether it replaces the group's other records)
        self._pending: dict[str, tuple[str, str, bool]] = {}
        self._lock = threading.Lock()
        self._pruned = False

    def load(self, identity_id: str) -> Mapping[str, PlanRecord]:
        """This code version's plans of one table identity, by plan id (those not yet
        written included); {} when the store cannot be read (logged)."""
        try:
            with self.store.session(readonly=True) as session:
                rows = session.exec(
                    select(CompiledQueryPlan.plan_id, CompiledQueryPlan.record).where(
                        CompiledQueryPlan.identity_id == identity_id,
                        CompiledQueryPlan.code_version == code_version(),
                    )
                ).all()
        except (SQLAlchemyError, StoreError) as error:
            log.warning("compiled queries could not be read from the store: %s", error)
            rows = []
        records = {plan_id: _decoded(text) for plan_id, text in rows}
        with self._lock:
            for plan_id, (pending_identity, text, _replace) in self._pending.items():
                if pending_identity == identity_id:
                    records[plan_id] = _decoded(text)
        return {plan_id: record for plan_id, record in records.items() if record is not None}

    def save(
        self, identity_id: str, plan_id: str, record: PlanRecord, *, replace: bool = False
    ) -> None:
        """Keep `record` until the next `flush`; with `replace`, the flush that writes it
        deletes the other records of its group (`identity_id`)."""
        text = json.dumps(record, ensure_ascii=True, sort_keys=True)
        with self._lock:
            if replace:
                for other, (group, _text, _replace) in list(self._pending.items()):
                    if group == identity_id and other != plan_id:
                        del self._pending[other]
            self._pending[plan_id] = (identity_id, text, replace)

    def pending(self) -> int:
        """Plans waiting for the next `flush`."""
        with self._lock:
            return len(self._pending)

    def flush(self, session: Session) -> int:
        """Write the kept plans in `session`'s transaction (a plan another process wrote
        meanwhile is left as it is); the first flush of a process also deletes other code
        versions' plans. Returns how many were written. A write that fails is rolled back
        to a savepoint and logged, so keeping plans never costs the transaction its own
        writes (a scan's result): the plans are compiled again by a later process."""
        with self._lock:
            pending, self._pending = self._pending, {}
            prune = bool(pending) and not self._pruned
            self._pruned = self._pruned or prune
        if not pending:
            return 0
        version = code_version()
        now = utcnow()
        rows = [
            {
                "plan_id": plan_id,
                "identity_id": identity,
                "code_version": version,
                "record": text,
                "created_at": now,
            }
            for plan_id, (identity, text, _replace) in pending.items()
        ]
        replacing = [(identity, plan_id) for plan_id, (identity, _, on) in pending.items() if on]
        try:
            with session.begin_nested():
                if prune:
                    stale = col(CompiledQueryPlan.code_version) != version
                    session.execute(delete(CompiledQueryPlan).where(stale))
                for first in range(0, len(rows), ROWS_PER_INSERT):
                    session.execute(_insert_new(session, rows[first : first + ROWS_PER_INSERT]))
                for group, kept in replacing:
                    others = (col(CompiledQueryPlan.identity_id) == group) & (
                        col(CompiledQueryPlan.plan_id) != kept
                    )
                    session.execute(delete(CompiledQueryPlan).where(others))
        except SQLAlchemyError as error:
            log.warning("compiled queries could not be kept in the store (a cache): %s", error)
            return 0
        return len(rows)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> Any:
    """INSERT of `rows` that skips plan ids already kept (both dialects say it alike)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = CompiledQueryPlan.__table__  # type: ignore[attr-defined]
    return insert(table).values(rows).on_conflict_do_nothing(index_elements=["plan_id"])


def _decoded(text: str) -> PlanRecord | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


_ARCHIVES: weakref.WeakKeyDictionary[Store, StorePlanArchive] = weakref.WeakKeyDictionary()
_ARCHIVES_LOCK = threading.Lock()


def plan_archive(store: Store) -> StorePlanArchive:
    """The one archive of `store` in this process."""
    with _ARCHIVES_LOCK:
        archive = _ARCHIVES.get(store)
        if archive is None:
            archive = _ARCHIVES[store] = StorePlanArchive(store)
        return archive
