"""Opening the store: one engine, transactional sessions, the same behaviour on both backends.

SQLite (embedded default) gets, on every new connection: WAL (readers do not block the writer),
a 10 s busy timeout (writers queue instead of failing at once) and enforced foreign keys.

Transactions on SQLite start with ``BEGIN IMMEDIATE``: the write lock is taken when the
transaction starts, not at its first write. pysqlite's default (a deferred BEGIN sent just
before the first INSERT/UPDATE) lets a transaction read, then find at its first write that
another connection committed in between, which fails with SQLITE_BUSY regardless of the busy
timeout; and read-then-write sequences such as appending to the audit chain need the read to
happen under the lock. Sessions opened with ``readonly=True`` use a plain deferred BEGIN (many
readers at once, under WAL even while a writer works) and refuse writes, as PostgreSQL's
``READ ONLY`` transactions do.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from daemon.store.errors import StoreError, connect_failure_message, driver_reason, mask_url
from daemon.store.schema_version import is_at_newest_revision
from daemon.store.urls import is_memory_sqlite, parse_store_url
from detectors.work_labels import doing

#: How long a SQLite writer waits for the lock before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long a PostgreSQL connection attempt may take, in seconds (unless the URL says otherwise).
POSTGRES_CONNECT_TIMEOUT_S = 10

#: Session info key holding the store's audit hooks (read by `append_audit`).
AUDIT_HOOKS = "warden_audit_hooks"
_READONLY = "warden_readonly"  # execution option read by the "begin" listener
_WRITE_LOCKED = "warden_sqlite_write_locked"  # connection-record info key set at each BEGIN


class Store:
    """An opened store: the engine plus a transactional session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readonly_engine = engine.execution_options(**{_READONLY: True})
        #: Called with (session, event) after each audit event is appended, in the same
        #: transaction: how notifications reach the outbox (`daemon.slack.outbox_writer`).
        self.audit_hooks: list[Callable[[Session, Any], None]] = []

    @property
    def url(self) -> URL:
        """The store URL; `str()` and `repr()` of it mask the password."""
        return self.engine.url

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        """``"sqlite"`` or ``"postgresql"``."""
        name = self.engine.dialect.name
        assert name in ("sqlite", "postgresql"), name
        return name  # type: ignore[return-value]

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error.

        Objects stay usable after the block (``expire_on_commit=False``); they are detached,
        so lazy relationships cannot load. With `readonly`, writes are refused (both backends)
        and, on SQLite, the transaction does not take the write lock.
        """
        session = Session(self._readonly_engine if readonly else self.engine)
        session.expire_on_commit = False
        session.info[AUDIT_HOOKS] = self.audit_hooks
        with doing("store"):  # for the CPU profile; work marked inside keeps its own mark
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def connect(self, *, readonly: bool = False) -> Connection:
        """A Core connection (for migrations and administration); use it as a context manager."""
        return (self._readonly_engine if readonly else self.engine).connect()

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r})"


def open_store(url: str | URL, *, migrate: bool = True) -> Store:
    """Open the store at `url`, check that it answers and (by default) migrate it to head.

    Raises `StoreError` with an actionable message when the URL is invalid, the server or file
    cannot be reached or created, or the schema cannot be migrated.
    """
    parsed = parse_store_url(url)
    engine = _create_engine(parsed)
    store = Store(engine)
    try:
        with store.connect(readonly=True) as connection:
            connection.exec_driver_sql("SELECT 1")
        if migrate and not is_at_newest_revision(store):
            from daemon.store.migrate import upgrade_to_head  # imports alembic: only if needed

            upgrade_to_head(store)
    except DBAPIError as exc:
        store.close()
        raise StoreError(connect_failure_message(parsed, exc)) from exc
    except BaseException:
        store.close()
        raise
    return store


def check_integrity(store: Store) -> None:
    """Refuse (StoreError) a damaged SQLite store, with what to do: `PRAGMA quick_check`
    reads every page (about a second per GB), so the daemon runs it once at start rather
    than every command. PostgreSQL checks its own pages; nothing to do there."""
    if store.backend != "sqlite":
        return
    with store.connect(readonly=True) as connection:
        try:
            rows = [str(row[0]) for row in connection.exec_driver_sql("PRAGMA quick_check")]
        except DBAPIError as exc:
            rows = [str(exc.orig)]
    if rows == ["ok"]:
        return
    path = store.url.database
    raise StoreError(
        f"The Warden store {path} is damaged (SQLite quick_check: {'; '.join(rows[:3])}). "
        "Stop every Warden process using it, keep a copy of the file, then recover what can "
        f"be read: `sqlite3 {path} .recover | sqlite3 recovered.db`, check it with `sqlite3 "
        "recovered.db 'PRAGMA integrity_check'` and point store.url at it. Warden will not "
        "start on a damaged store: it could lose approvals and audit events."
    )


def may_append(connection: Connection) -> bool:
    """Whether `connection`'s transaction may write and, on SQLite, holds the write lock.

    False for read-only sessions, and on SQLite for engines not made by `open_store` (whose
    transactions do not begin with ``BEGIN IMMEDIATE``).
    """
    if connection.dialect.name == "sqlite":
        return bool(connection.info.get(_WRITE_LOCKED))
    return not connection.get_execution_options().get(_READONLY)


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ImportError, NoSuchModuleError) as exc:
        raise StoreError(
            f"Cannot open the Warden store at {mask_url(url)}: the PostgreSQL driver for "
            f"{url.drivername!r} is not installed ({driver_reason(exc)}). Install Warden's "
            "PostgreSQL extra: pip install 'ml-warden[postgres]'."
        ) from exc
    event.listen(engine, "begin", _on_begin)
    return engine


def _create_sqlite_engine(url: URL) -> Engine:
    if is_memory_sqlite(url):
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        _create_parent_folder(url)
        engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _create_parent_folder(url: URL) -> None:
    path = Path(url.database or "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"Cannot open the Warden store at {mask_url(url)}: the folder {path.parent} does "
            f"not exist and could not be created ({exc.strerror or exc}). Check the path in "
            "the store URL and that the user running Warden may create it, or choose another "
            "location."
        ) from exc


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun by _on_begin, not by pysqlite's implicit, deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL may itself have to wait for the lock.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    # Turning a new database to WAL needs an exclusive lock, and SQLite answers "database is
    # locked" at once instead of calling the busy handler (waiting could deadlock), so first
    # connections opened together (replicas, a fresh pool) retry here within the busy timeout.
    # Once the file is in WAL mode (a persistent setting) the pragma takes no lock.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_begin(connection: Connection) -> None:
    readonly = bool(connection.get_execution_options().get(_READONLY))
    if connection.dialect.name == "sqlite":
        # query_only is per connection and survives the transaction: set it at every BEGIN.
        if connection.info.get("warden_query_only", False) != readonly:
            connection.exec_driver_sql(f"PRAGMA query_only = {int(readonly)}")
            connection.info["warden_query_only"] = readonly
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
        connection.info[_WRITE_LOCKED] = not readonly
    elif readonly:
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
