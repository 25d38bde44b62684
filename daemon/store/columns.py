"""Column helpers and the constraint naming convention shared by every table's module
(`models.py`, `asset_models.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from daemon.store.types import JSONType, UTCDateTime, utcnow

#: Constraint and index names are fixed by convention rather than left to each backend
#: (PostgreSQL would say `monitor_pkey`, SQLite nothing), so a later migration can drop or alter
#: them by name on both. Set before the tables below are declared, which is when names are given.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def json_column(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSONType, nullable=nullable))


def time_column(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def stamp_column(index: bool = False) -> Any:
    """A required timestamp that defaults to now (UTC)."""
    return Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index)
    )
