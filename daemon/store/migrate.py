"""Schema migrations, run from code: no alembic.ini is needed at runtime.

The scripts live in ``daemon/migrations`` (shipped as package data). `open_store` calls
`upgrade_to_head`, which is safe to run from several processes at once: on PostgreSQL the
migrators queue on an advisory lock, on SQLite on the write lock (``BEGIN IMMEDIATE``); the
loser finds the schema already at head and does nothing. The whole upgrade runs in one
transaction on both backends (SQLite DDL is transactional once pysqlite stops managing
transactions, see `daemon.store.engine`), so a failed migration leaves the schema untouched.

Writing a new migration (autogenerate against a store migrated to the current head)::

    from alembic import command
    from daemon.store.engine import open_store
    from daemon.store.migrate import alembic_config

    store = open_store("sqlite:///tmp/dev.db")
    with store.connect() as connection:
        command.revision(alembic_config(connection), message="...", autogenerate=True)

then review the script: it must not import Warden code (types included), and anything
backend-specific (triggers, partial indexes) must be written for both backends.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from daemon.store.engine import Store
from daemon.store.errors import StoreError, driver_reason, mask_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

#: pg_advisory_lock key held while migrating ("WARDEN" in hex, then 1); visible in pg_locks.
MIGRATION_LOCK_KEY = 0x5741_5244_454E_0001

# Alembic's `context` and `op` are module-level proxies to the running command: two threads of
# one process migrating at once would share them. Processes are serialised by the database.
_ALEMBIC_COMMAND_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at Warden's migration scripts, optionally bound to a connection.

    ``env.py`` runs the migrations on ``config.attributes["connection"]``.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this version of Warden knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migration scripts found in {MIGRATIONS_DIR}"
    return head


def current_revision(store: Store) -> str | None:
    """The revision the store's schema is at, or None for a store never migrated."""
    with store.connect(readonly=True) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(store: Store) -> None:
    """Migrate the store's schema to `head_revision()`; a no-op when it is already there.

    Raises `StoreError` when the store is at a revision this Warden does not know (migrated
    by a newer version) or a migration step fails.
    """
    head = head_revision()
    try:
        with _ALEMBIC_COMMAND_LOCK, store.connect() as connection:
            if store.backend == "postgresql":
                _migrate_under_advisory_lock(connection)
            else:
                command.upgrade(alembic_config(connection), "head")
    except CommandError as exc:
        raise StoreError(
            f"Cannot migrate the Warden store at {mask_url(store.url)}: its schema is at a "
            f"revision this version of Warden does not know ({driver_reason(exc)}; this "
            f"version's newest is {head}). It was probably migrated by a newer Warden: "
            "upgrade Warden, or point it at another store."
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreError(
            f"Cannot migrate the Warden store at {mask_url(store.url)} to schema revision "
            f"{head}: {driver_reason(exc, store.url)}. Nothing was changed (the migration runs "
            "in one transaction). Check that the store's user may create tables and indexes "
            "(and, on PostgreSQL, functions and triggers)."
        ) from exc


def _migrate_under_advisory_lock(connection: Connection) -> None:
    # A session-level lock (not the transaction-scoped one) so that a future migration may
    # leave the transaction for DDL that cannot run inside one (CREATE INDEX CONCURRENTLY).
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()  # end the autobegun transaction; the session-level lock stays held
    try:
        command.upgrade(alembic_config(connection), "head")
    finally:
        if not connection.invalidated:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
