"""Warden's store: SQLite by default, PostgreSQL in production, one behaviour on both.

- `open_store(url)` opens and migrates it; `Store.session()` is one transaction.
- `append_audit` / `verify_audit_chain` keep the hash-chained audit trail.
- `StoreError` is raised, with a message a person can act on, when the store cannot be used.

The names are loaded on first use, so importing one light module (``daemon.store.errors`` for
the CLI's error handling) does not pull in SQLModel and Alembic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daemon.store.audit import AuditVerification, append_audit, verify_audit_chain
    from daemon.store.engine import Store, open_store
    from daemon.store.errors import StoreError
    from daemon.store.migrate import current_revision, head_revision

_HOMES = {
    "AuditVerification": "daemon.store.audit",
    "append_audit": "daemon.store.audit",
    "verify_audit_chain": "daemon.store.audit",
    "Store": "daemon.store.engine",
    "open_store": "daemon.store.engine",
    "StoreError": "daemon.store.errors",
    "current_revision": "daemon.store.migrate",
    "head_revision": "daemon.store.migrate",
}

__all__ = [
    "AuditVerification",
    "Store",
    "StoreError",
    "append_audit",
    "current_revision",
    "head_revision",
    "open_store",
    "verify_audit_chain",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
