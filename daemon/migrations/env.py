"""Alembic environment for Warden's store, run by `daemon.store.migrate` (no alembic.ini).

The caller passes an open connection in ``config.attributes["connection"]``; this script never
creates its own engine, so the URL handling, SQLite pragmas and locking of
`daemon.store.engine` apply to migrations too.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import daemon.store.models  # noqa: F401  (declares the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    """Run the migrations on the connection given by the caller, in one transaction."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "Warden's migrations run through daemon.store.migrate (open_store migrates on "
            "start); pass a connection with alembic_config(connection) to use Alembic commands."
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite DDL is transactional under our explicit BEGIN (see daemon.store.engine):
        # run the whole upgrade as one transaction there too.
        transactional_ddl=True,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("Offline (--sql) migrations are not supported; run them on a store.")
run_migrations_online()
