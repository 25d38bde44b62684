"""Is a store's schema already at this Warden's newest revision? Answered without Alembic.

Every command opens the store, and almost always it is already migrated; importing Alembic
and parsing every migration script to learn that costs about 0.15 s per command. The
migration files are named `NNNN_what.py` and declare `revision = "NNNN"` (a contract test
checks both against Alembic's own answer), so the newest known revision is the highest
prefix, and the store's is one row of `alembic_version`. Anything else (a store never
migrated, one behind, one ahead) goes to `daemon.store.migrate`, which explains it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from daemon.store.engine import Store

VERSIONS_DIR = Path(__file__).resolve().parent.parent / "migrations" / "versions"
#: A migration script's file name: its revision id, an underscore, what it does.
MIGRATION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


@cache
def newest_known_revision() -> str:
    """The revision id of the newest migration script shipped with this Warden."""
    revisions = [
        match.group(1)
        for path in VERSIONS_DIR.iterdir()
        if (match := MIGRATION_FILE.match(path.name)) is not None
    ]
    if not revisions:
        raise RuntimeError(f"no migration scripts found in {VERSIONS_DIR}")
    return max(revisions)


def is_at_newest_revision(store: Store) -> bool:
    """True when the store's schema is exactly at `newest_known_revision()` (False when it
    has no version table yet, or is at any other revision)."""
    try:
        with store.connect(readonly=True) as connection:
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:
        return False  # no version table: a store never migrated
    return [row[0] for row in rows] == [newest_known_revision()]
