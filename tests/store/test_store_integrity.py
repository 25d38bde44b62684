"""A damaged SQLite store is refused at the daemon's start, with what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon.store.engine import check_integrity, open_store
from daemon.store.errors import StoreError
from daemon.store.models import Monitor
from tests.cli.conftest import run_warden


def _store_with_rows(path: Path) -> None:
    with open_store(f"sqlite:///{path}") as store:
        with store.session() as session:
            for n in range(400):  # a few pages of rows
                session.add(
                    Monitor(name=f"m{n}", kind="drift", dataset="d", config={"n": "x" * 200},
                            config_hash=f"h{n}")
                )  # fmt: skip
        check_integrity(store)  # a sound store passes


def _scribble(path: Path) -> None:
    """Overwrite the header of the monitor table's b-tree root page."""
    with sqlite3.connect(path) as connection:
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'monitor'"
        ).fetchone()
        (page,) = connection.execute("PRAGMA page_size").fetchone()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page  # pages count from 1
    data[start : start + 16] = b"\xff" * 16  # scribble over the monitor table's b-tree header
    path.write_bytes(bytes(data))


def test_a_damaged_sqlite_store_is_refused_with_what_to_do(tmp_path: Path):
    path = tmp_path / "warden.db"
    _store_with_rows(path)
    _scribble(path)
    with (
        open_store(f"sqlite:///{path}", migrate=False) as store,
        pytest.raises(StoreError, match="is damaged") as refused,
    ):
        check_integrity(store)
    assert ".recover" in str(refused.value)


def test_the_daemon_refuses_to_start_on_a_damaged_store(tmp_path: Path):
    path = tmp_path / "warden.db"
    _store_with_rows(path)
    _scribble(path)
    (tmp_path / "warden.yaml").write_text(
        "store: {url: 'sqlite:///warden.db'}\n"
        "datasets:\n  events: {format: parquet, path: data, time_column: ts}\n"
    )
    (tmp_path / "data").mkdir()
    ran = run_warden("run", "--check", cwd=tmp_path)
    assert ran.code == 2 and "is damaged" in ran.stderr, (ran.code, ran.stderr)
