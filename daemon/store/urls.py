"""Store URLs: which ones Warden accepts and how they map to SQLAlchemy drivers.

Accepted:

- ``sqlite:///relative/warden.db``, ``sqlite:////absolute/warden.db`` (the embedded default)
  and ``sqlite://`` for an in-memory store (tests only);
- ``postgresql://user:password@host:5432/db`` or ``postgres://...`` (the form Heroku and many
  hosted services hand out), both mapped to the psycopg 3 driver. An explicit driver such as
  ``postgresql+psycopg://`` is kept as given.

>>> str(parse_store_url("postgres://warden:s3cret@db:5432/warden"))
'postgresql+psycopg://warden:***@db:5432/warden'
>>> parse_store_url("sqlite:///data/warden.db").database
'data/warden.db'
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from daemon.store.errors import StoreError, mask_url

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_EXAMPLES = "sqlite:///path/to/warden.db or postgresql://user:password@host:5432/dbname"


def parse_store_url(url: str | URL) -> URL:
    """Parse `url`, map bare PostgreSQL schemes to psycopg, reject anything else.

    Raises `StoreError` for text that is not a URL or names an unsupported database.
    """
    if isinstance(url, str):
        if not url.strip():
            raise StoreError(f"No store URL was given. Set one, for example {_EXAMPLES}.")
        try:
            parsed = make_url(url.strip())
        except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is not a number
            raise StoreError(
                f"The store URL {mask_url(url)!r} is not a valid database URL. "
                f"Expected something like {_EXAMPLES}."
            ) from exc
    else:
        parsed = url
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise StoreError(
            f"The store URL {mask_url(parsed)} names a {parsed.get_backend_name()!r} database; "
            f"Warden stores its state in SQLite or PostgreSQL only, e.g. {_EXAMPLES}."
        )
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    """Whether `url` is an in-memory SQLite database (no file)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
