"""Shared fixtures: every store test runs on SQLite and on a live PostgreSQL.

`store_url` is a fresh, empty database (a file under tmp_path, or a uniquely named PostgreSQL
database created for the test and dropped after it); `store` is that database opened and
migrated. PostgreSQL comes from ``WARDEN_TEST_POSTGRES_URL`` (any database the user may
connect to and run CREATE DATABASE from, e.g. ``postgresql://postgres@127.0.0.1:5432/test``).
Without it the PostgreSQL cases are skipped locally and fail in CI, which must test both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from daemon.store.engine import Store, open_store
from daemon.store.urls import parse_store_url

POSTGRES_URL_VARIABLE = "WARDEN_TEST_POSTGRES_URL"

STORE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty store database (not migrated), on each backend."""
    if request.param == "sqlite":
        # A folder that does not exist yet: opening the store must create it.
        yield f"sqlite:///{tmp_path / 'state' / 'warden.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store opened and migrated to head, on each backend."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _fresh_postgres_database() -> Iterator[str]:
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{POSTGRES_URL_VARIABLE} is not set, but CI must run the store tests on "
                "PostgreSQL. Start a PostgreSQL service and export its URL.",
                pytrace=False,
            )
        pytest.skip("WARDEN_TEST_POSTGRES_URL is not set; PostgreSQL tests need a live server")
    server = parse_store_url(server_url)
    name = f"warden_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def spark_master() -> Iterator[str]:
    """A local Spark master whose session is up (two cores, 1 GB driver), for Spark tests.

    Without PySpark or Java the Spark cases are skipped locally, with what to install, and
    fail in CI, whose `make test` installs the `spark` extra on a machine with Java.
    """
    from detectors.sources.errors import SourceError
    from detectors.sources.spark import spark_backend

    master = "local[2]"
    try:
        backend = spark_backend(
            master, {"spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "2"}
        )
    except SourceError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Spark tests: {error}", pytrace=False)
        pytest.skip(f"Spark is not available here: {error}")
    backend._session.sparkContext.setLogLevel("ERROR")
    try:
        yield master
    finally:
        backend._session.stop()
