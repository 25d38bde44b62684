"""The one error the store raises for problems a person must fix (URL, server, permissions).

`StoreError` carries a single paragraph meant to be shown as is (by the CLI, in the daemon's
log): which store (URL with the password masked), what failed, and what to check. The driver's
own exception stays attached as `__cause__` for debugging, but its text is only quoted, trimmed
to one line, never dumped as a traceback.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # kept out of the import: the CLI imports StoreError and should start fast
    from sqlalchemy.engine import URL

#: Longest driver message quoted in a StoreError, in characters.
_MAX_REASON = 300


class StoreError(Exception):
    """The store cannot be opened or migrated; the message says what to check."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def mask_url(url: URL | str) -> str:
    """`url` as text with its password replaced by `***` (also for strings that do not parse)."""
    if not isinstance(url, str):
        return url.render_as_string(hide_password=True)
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def driver_reason(exc: BaseException, url: URL | None = None) -> str:
    """The driver's message for `exc`, on one line, trimmed, without the URL's password."""
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split())
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1] + "…"
    return text or type(original).__name__


def connect_failure_message(url: URL, exc: BaseException) -> str:
    """Explain why connecting to the store at `url` failed, and what to check."""
    reason = driver_reason(exc, url)
    where = f"Cannot open the Warden store at {mask_url(url)}"
    if url.get_backend_name() == "sqlite":
        return f"{where}: {_sqlite_advice(url, reason)} (SQLite said: {reason})"
    return f"{where}: {_postgres_advice(url, reason)} (driver said: {reason})"


def _sqlite_advice(url: URL, reason: str) -> str:
    path = url.database or ":memory:"
    lowered = reason.lower()
    if "not a database" in lowered:
        return (
            f"the file {path} exists but is not a SQLite database. Check that the store URL "
            "points at Warden's database file and not at something else."
        )
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"the file {path} (or its folder) is read-only for this process. Check that the "
            "file and its folder are writable by the user running Warden, or choose another "
            "location."
        )
    return (
        f"SQLite could not open or create {path}. Check that the folder exists and that the "
        "user running Warden may write to it (SQLite also creates -wal and -shm files there)."
    )


def _postgres_advice(url: URL, reason: str) -> str:
    host = url.host or "the local socket"
    where = f"{host}:{url.port or 5432}" if url.host else host
    lowered = reason.lower()
    if "connection refused" in lowered:
        return (
            f"nothing accepted the connection at {where}. Check that PostgreSQL is running "
            "there and that the host and port in the store URL are right."
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (
            f'the server rejected the credentials of user "{url.username}". Check the user '
            "name and password in the store URL."
        )
    if re.search(r'role ".*" does not exist', lowered):
        return (
            f'the server has no user "{url.username}". Create the role or check the user name '
            "in the store URL."
        )
    if re.search(r'database ".*" does not exist', lowered):
        return (
            f'the server has no database "{url.database}". Create it (createdb '
            f"{url.database}) or check the database name in the store URL."
        )
    if "translate host name" in lowered or "name or service not known" in lowered:
        return f'the host name "{url.host}" could not be resolved. Check the host in the store URL.'
    if "timeout" in lowered or "timed out" in lowered:
        return (
            f"the server at {where} did not answer in time. Check that it is reachable from "
            "this machine (firewall, VPN, security group)."
        )
    return (
        f"connecting to {where} failed. Check the store URL, that the server is reachable "
        "from this machine, and the server's log."
    )
