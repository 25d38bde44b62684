"""The store's record of an asset dataset's files (`AssetRecord`), kept in step with a walk.

A scan walks the dataset, asks the catalogue which files are new or changed since their
record (size, modification time or inode differ), has only those read and decoded, and
saves what was found in batches of `BATCH` files, each in its own transaction: a scan that
stops half-way keeps what it read, and the next one reads only the rest. Files the walk no
longer finds get `gone_at` (their rows stay: a later copy is still a duplicate of them);
a file that comes back is present again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert
from sqlalchemy import select as sql_select
from sqlmodel import col, select, update

from daemon.store.asset_models import AssetRecord
from daemon.store.engine import Store
from detectors.assets.detector import FileRecord
from detectors.assets.inspect import AssetFacts
from detectors.assets.walk import FoundFile

#: Files saved per transaction.
BATCH = 500
#: Bound values of an UPDATE of a changed file that are not in its SET list (`path` is
#: matched on; the old_ values name the row).
_MATCHED = ("path", "old_dataset", "old_path")
#: Above this many hashes asked about, `with_hashes` reads every present file once.
WHOLE_READ = 4 * BATCH
#: The record columns a FileRecord holds, in its order.
FILE_RECORD_FIELDS = tuple(field.name for field in fields(FileRecord))


@dataclass(frozen=True)
class KnownFile:
    size: int
    mtime_ns: int
    inode: int
    gone: bool
    #: `ok`, `corrupt` or `unreadable`; an unreadable file is read again at every scan.
    status: str = "ok"


class AssetCatalogue:
    def __init__(self, store: Store, dataset: str) -> None:
        self.store = store
        self.dataset = dataset

    def known(self) -> dict[str, KnownFile]:
        """Every recorded file of the dataset by path, with the identity it was read with."""
        columns = (
            col(AssetRecord.path),
            col(AssetRecord.size),
            col(AssetRecord.mtime_ns),
            col(AssetRecord.inode),
            col(AssetRecord.gone_at),
            col(AssetRecord.status),
        )
        with self.store.session(readonly=True) as session:
            rows = session.execute(
                sql_select(*columns).where(col(AssetRecord.dataset) == self.dataset)
            ).all()
        return {
            path: KnownFile(size, mtime_ns, inode, gone is not None, status)
            for path, size, mtime_ns, inode, gone, status in rows
        }

    @staticmethod
    def to_read(files: Iterable[FoundFile], known: Mapping[str, KnownFile]) -> list[FoundFile]:
        """The files that are new or changed since they were read, and those that could not
        be read last time (a timeout, a permission fixed since: a chmod changes no size or
        time, so they would otherwise never be read again)."""
        stale = []
        for found in files:
            record = known.get(found.path)
            if (
                record is None
                or record.status == "unreadable"
                or (
                    record.size,
                    record.mtime_ns,
                    record.inode,
                )
                != (
                    found.size,
                    found.mtime_ns,
                    found.inode,
                )
            ):
                stale.append(found)
        return stale

    def save(
        self, facts: Sequence[AssetFacts], times: Mapping[str, datetime | None], at: datetime
    ) -> None:
        """Record what was read of each file (insert or replace its row), BATCH at a time.

        Written with plain INSERT and UPDATE statements, many rows each: building ORM
        objects cost about a millisecond a file, as long as reading it."""
        table = AssetRecord.__table__  # type: ignore[attr-defined]
        for start in range(0, len(facts), BATCH):
            part = facts[start : start + BATCH]
            rows = [
                {**item.to_dict(), "event_time": times.get(item.path), "checked_at": at}
                for item in part
            ]
            with self.store.session() as session:
                existing = set(
                    session.execute(
                        sql_select(col(AssetRecord.path)).where(
                            col(AssetRecord.dataset) == self.dataset,
                            col(AssetRecord.path).in_([row["path"] for row in rows]),
                        )
                    ).scalars()
                )
                new = [
                    {**row, "dataset": self.dataset, "first_seen_at": at, "gone_at": None}
                    for row in rows
                    if row["path"] not in existing
                ]
                changed = [
                    {**row, "gone_at": None, "old_dataset": self.dataset, "old_path": row["path"]}
                    for row in rows
                    if row["path"] in existing
                ]
                if new:
                    session.execute(insert(table), new)
                if changed:
                    keys = [
                        key for key in changed[0] if key not in ("path", "old_dataset", "old_path")
                    ]
                    session.execute(
                        update(table)
                        .where(
                            table.c.dataset == bindparam("old_dataset"),
                            table.c.path == bindparam("old_path"),
                        )
                        .values({key: bindparam(key) for key in keys}),
                        changed,
                    )
                session.commit()

    def mark_present(
        self, paths: Iterable[str], known: Mapping[str, KnownFile], at: datetime
    ) -> int:
        """Set `gone_at` on the records whose file the walk did not find (returns how many
        went), and clear it on those it found again; `known` is `known()` as the scan began
        (`save` only ever clears `gone_at`, so it is still right for this)."""
        present = set(paths)
        went = [path for path, record in known.items() if not record.gone and path not in present]
        back = [path for path, record in known.items() if record.gone and path in present]
        with self.store.session() as session:
            for chosen, value in ((went, at), (back, None)):
                for start in range(0, len(chosen), BATCH):
                    session.exec(  # type: ignore[call-overload]
                        update(AssetRecord)
                        .where(
                            and_(
                                col(AssetRecord.dataset) == self.dataset,
                                col(AssetRecord.path).in_(chosen[start : start + BATCH]),
                            )
                        )
                        .values(gone_at=value)
                    )
            session.commit()
        return len(went)

    def recorded_times(self) -> tuple[list[str], list[datetime | None]]:
        """The present files' paths and recorded times, as two lists (for the manifest's
        engine to compare with its own)."""
        with self.store.session(readonly=True) as session:
            rows = session.execute(
                sql_select(col(AssetRecord.path), col(AssetRecord.event_time)).where(
                    col(AssetRecord.dataset) == self.dataset, col(AssetRecord.gone_at).is_(None)
                )
            ).all()
        return [row[0] for row in rows], [row[1] for row in rows]

    def set_times(self, times: Mapping[str, datetime]) -> None:
        """Give these files new times (the manifest changed them), BATCH per transaction."""
        items = sorted(times.items())
        for start in range(0, len(items), BATCH):
            with self.store.session() as session:
                for path, time in items[start : start + BATCH]:
                    session.exec(  # type: ignore[call-overload]
                        update(AssetRecord)
                        .where(
                            and_(
                                col(AssetRecord.dataset) == self.dataset,
                                col(AssetRecord.path) == path,
                            )
                        )
                        .values(event_time=time)
                    )
                session.commit()

    def in_window(self, start: datetime, end: datetime) -> list[FileRecord]:
        """The present files whose time falls in [start, end), by path."""
        return self._files(col(AssetRecord.event_time) >= start, col(AssetRecord.event_time) < end)

    def with_hashes(
        self, sha256s: Iterable[str] = (), phashes: Iterable[int] = ()
    ) -> list[FileRecord]:
        """The present files having one of these content hashes or perceptual hashes."""
        sha256s, phashes = sorted(set(sha256s)), sorted(set(phashes))
        if len(sha256s) + len(phashes) > WHOLE_READ:
            # Asked about much of the dataset (a first scan, a long window): one read of
            # every present file beats dozens of IN queries.
            wanted_sha, wanted_phash = set(sha256s), set(phashes)
            return [
                record
                for record in self._files()
                if record.sha256 in wanted_sha or record.phash in wanted_phash
            ]
        found: dict[str, FileRecord] = {}
        for values, column in ((sha256s, AssetRecord.sha256), (phashes, AssetRecord.phash)):
            for start in range(0, len(values), BATCH):
                for record in self._files(col(column).in_(values[start : start + BATCH])):
                    found[record.path] = record
        return sorted(found.values(), key=lambda record: record.path)

    def _files(self, *conditions: Any) -> list[FileRecord]:
        """The present files meeting `conditions`, by path, as plain records: rows, not ORM
        objects (building and expunging 20,000 ORM objects took seconds)."""
        with self.store.session(readonly=True) as session:
            rows = session.execute(
                sql_select(*(getattr(AssetRecord, name) for name in FILE_RECORD_FIELDS))
                .where(
                    col(AssetRecord.dataset) == self.dataset,
                    col(AssetRecord.gone_at).is_(None),
                    *conditions,
                )
                .order_by(col(AssetRecord.path))
            ).all()
        return [FileRecord(*row) for row in rows]

    def perceptual_hashes(self) -> list[int]:
        """The distinct pHashes of the dataset's present images."""
        with self.store.session(readonly=True) as session:
            values = session.exec(
                select(AssetRecord.phash)
                .where(
                    AssetRecord.dataset == self.dataset,
                    col(AssetRecord.gone_at).is_(None),
                    col(AssetRecord.phash).is_not(None),
                )
                .distinct()
            ).all()
        return [int(value) for value in values if value is not None]
