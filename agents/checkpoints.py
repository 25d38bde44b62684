"""Where the graph's checkpoints live: a SQLite file by default, PostgreSQL in production.

`langgraph-checkpoint-sqlite` / `-postgres` create their own tables (`checkpoints`,
`writes`...) on first use; for PostgreSQL, give a database or schema of their own or the
store's (the names do not clash with Warden's tables).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def open_checkpointer(target: str) -> Iterator[Any]:
    """`postgresql://...` opens a PostgresSaver; anything else is a SQLite file path."""
    scheme, separator, rest = target.partition("://")
    if separator and scheme.split("+")[0] in ("postgresql", "postgres"):
        from langgraph.checkpoint.postgres import PostgresSaver

        url = f"postgresql://{rest}"  # psycopg takes no SQLAlchemy driver suffix
        with PostgresSaver.from_conn_string(url) as postgres:
            postgres.setup()
            yield postgres
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(connection)
        saver.setup()
        yield saver
    finally:
        connection.close()
