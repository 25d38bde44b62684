"""Opening the store: URLs, SQLite settings, sessions, and the errors a person reads."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

import daemon
from daemon.store.engine import SQLITE_BUSY_TIMEOUT_MS, Store, open_store
from daemon.store.errors import StoreError
from daemon.store.models import Monitor
from daemon.store.urls import parse_store_url

POSTGRES_ONLY = pytest.mark.parametrize(
    "store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _monitor(name: str = "orders") -> Monitor:
    return Monitor(
        name=name, kind="drift", dataset="orders", config={"window": "1d"}, config_hash="c" * 64
    )


def _assert_actionable(message: str, *, mentions: str) -> None:
    """A StoreError message: one paragraph, names the store, says what to check."""
    assert "\n" not in message
    assert "Traceback" not in message
    assert mentions in message
    assert "Check" in message or "check" in message


def test_package_exports_resolve() -> None:
    import daemon.store as package

    for name in package.__all__:
        assert getattr(package, name).__name__ == name
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_importing_store_error_stays_light() -> None:
    # The CLI imports StoreError on every start; the ORM and Alembic load only when used.
    probe = (
        "import sys, daemon.store, daemon.store.errors; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'alembic') if m in sys.modules))"
    )
    repo_root = str(Path(daemon.__file__).resolve().parent.parent)
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo_root, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_store_reports_its_backend_and_url(store: Store, store_url: str) -> None:
    assert store.backend in ("sqlite", "postgresql")
    assert store.url.get_backend_name() == store.backend
    assert str(store.url) == str(parse_store_url(store_url))
    assert repr(store) == f"Store({str(store.url)!r})"


def test_session_commits_when_the_block_succeeds(store: Store) -> None:
    with store.session() as session:
        session.add(_monitor())

    with store.session(readonly=True) as session:
        assert session.exec(select(Monitor.name)).all() == ["orders"]


def test_session_rolls_back_when_the_block_raises(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.session() as session:
        session.add(_monitor())
        session.flush()
        raise RuntimeError("boom")

    with store.session(readonly=True) as session:
        assert session.exec(select(Monitor)).all() == []


def test_savepoint_rolls_back_alone(store: Store) -> None:
    # The pattern for "insert unless a replica already did": a failed insert in a savepoint
    # leaves the surrounding transaction usable (pysqlite breaks this unless BEGIN is ours).
    with store.session() as session:
        session.add(_monitor("first"))
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(_monitor("first"))
            session.flush()
        session.add(_monitor("second"))

    with store.session(readonly=True) as session:
        assert sorted(session.exec(select(Monitor.name)).all()) == ["first", "second"]


def test_objects_stay_readable_after_the_session(store: Store) -> None:
    with store.session() as session:
        monitor = _monitor()
        session.add(monitor)

    assert monitor.config == {"window": "1d"}
    assert monitor.updated_at.tzinfo is not None


def test_readonly_session_refuses_writes(store: Store) -> None:
    with pytest.raises(DBAPIError), store.session(readonly=True) as session:
        session.add(_monitor())
        session.flush()

    # The connection goes back to the pool writable again.
    with store.session() as session:
        session.add(_monitor("after"))
    with store.session(readonly=True) as session:
        assert session.exec(select(Monitor.name)).all() == ["after"]


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'warden.db'}")
    try:
        # Two connections checked out at once: the settings hold on every connection.
        with store.connect() as first, store.connect(readonly=True) as second:
            for connection in (first, second):
                pragma = connection.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal"
                assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
                assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_sqlite_creates_the_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "warden.db"
    with open_store(f"sqlite:///{path}"):
        pass
    assert path.is_file()


def test_in_memory_sqlite_store_is_one_database() -> None:
    with open_store("sqlite://") as store:
        with store.session() as session:
            session.add(_monitor())
        with store.session(readonly=True) as session:
            assert session.exec(select(Monitor.name)).all() == ["orders"]


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///warden.db", "sqlite"),
    ],
)
def test_store_urls_map_to_drivers(given: str, driver: str) -> None:
    assert parse_store_url(given).drivername == driver


def test_printed_url_masks_the_password() -> None:
    url = parse_store_url("postgres://warden:hunter2@db.internal:5432/warden")
    assert "hunter2" not in str(url)
    assert "hunter2" not in repr(url)
    assert str(url) == "postgresql+psycopg://warden:***@db.internal:5432/warden"


def test_unreachable_postgres_gives_an_actionable_error() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://nobody:hunter2@127.0.0.1:1/x")

    message = str(caught.value)
    _assert_actionable(message, mentions="postgresql+psycopg://nobody:***@127.0.0.1:1/x")
    assert "hunter2" not in message
    assert "nothing accepted the connection at 127.0.0.1:1" in message
    assert "PostgreSQL is running" in message


@POSTGRES_ONLY
def test_missing_postgres_database_is_named(store_url: str) -> None:
    missing = parse_store_url(store_url).set(database="warden_no_such_database")

    with pytest.raises(StoreError) as caught:
        open_store(missing.render_as_string(hide_password=False))

    _assert_actionable(str(caught.value), mentions='no database "warden_no_such_database"')


def test_sqlite_path_under_a_file_gives_an_actionable_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    url = f"sqlite:///{not_a_folder / 'state' / 'warden.db'}"

    with pytest.raises(StoreError) as caught:
        open_store(url)

    message = str(caught.value)
    _assert_actionable(message, mentions=url)
    assert f"the folder {not_a_folder / 'state'} does not exist and could not be created" in message


def test_sqlite_path_under_an_unwritable_root_gives_an_actionable_error() -> None:
    # /proc refuses new folders even to root.
    with pytest.raises(StoreError) as caught:
        open_store("sqlite:////proc/warden-no-such-root/warden.db")

    _assert_actionable(str(caught.value), mentions="sqlite:////proc/warden-no-such-root/warden.db")


def test_file_that_is_not_a_database_gives_an_actionable_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)

    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{path}")

    _assert_actionable(str(caught.value), mentions="is not a SQLite database")


@pytest.mark.parametrize(
    ("url", "mentions"),
    [
        ("", "No store URL was given"),
        ("not a url", "is not a valid database URL"),
        ("postgresql://warden:hunter2@db:notaport/warden", "is not a valid database URL"),
        ("mysql://root:hunter2@db/warden", "names a 'mysql' database"),
    ],
)
def test_invalid_store_urls_are_explained(url: str, mentions: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url)

    message = str(caught.value)
    assert mentions in message
    assert "hunter2" not in message
    assert "sqlite:///path/to/warden.db" in message  # an example of what works


def test_sessions_hand_back_utc_now(store: Store) -> None:
    before = datetime.now(UTC)
    with store.session() as session:
        session.add(_monitor())
    with store.session(readonly=True) as session:
        stamp = session.exec(select(Monitor.updated_at)).one()
    assert stamp.utcoffset() is not None
    assert before <= stamp <= datetime.now(UTC)
