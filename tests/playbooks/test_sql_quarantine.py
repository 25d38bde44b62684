"""Quarantine of a table (DuckDB file, live PostgreSQL): the window's rows leave the clean
view and Warden's reads, the table itself is untouched, and release brings them back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlanRefused, PlaybookContext
from playbooks.quarantine import Quarantine, QuarantineParams, read_manifests
from playbooks.sql_quarantine import windows_in_force
from tests.conftest import _fresh_postgres_database

DAY = datetime(2025, 3, 1, tzinfo=UTC)
PLAYBOOK = Quarantine()
ROWS_PER_DAY = 48


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def table_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(engine, url) of a database holding `events`: 8 days of half-hourly rows, with a
    zoned time column on PostgreSQL and a naive (UTC) one on DuckDB."""
    if request.param == "duckdb":
        import duckdb

        path = str(tmp_path / "warehouse.duckdb")
        with duckdb.connect(path) as connection:
            connection.execute("CREATE TABLE events (ts TIMESTAMP, x DOUBLE)")
            connection.executemany("INSERT INTO events VALUES (?, ?)", _rows(naive=True))
        yield "duckdb", path
        return
    for url in _fresh_postgres_database():
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE events (ts TIMESTAMPTZ, x DOUBLE PRECISION)")
            connection.execute(
                sqlalchemy.text("INSERT INTO events VALUES (:ts, :x)"),
                [{"ts": ts, "x": x} for ts, x in _rows(naive=False)],
            )
        engine.dispose()
        yield "postgres", url


def _rows(*, naive: bool) -> list[tuple[datetime, float]]:
    rows = []
    for step in range(8 * ROWS_PER_DAY):
        moment = DAY + timedelta(minutes=30 * step)
        rows.append((moment.replace(tzinfo=None) if naive else moment, float(step)))
    return rows


def _context(engine: str, url: str, tmp_path: Path) -> PlaybookContext:
    config = DatasetConfig(format=engine, url=url, table="events", time_column="ts")
    return PlaybookContext(
        DatasetLocation("events", engine, "", "ts", url=url, table="events"),
        tmp_path / "work",
        open_source=partial(open_dataset, "events", config),
    )


def _incident(day: int) -> IncidentView:
    start = DAY + timedelta(days=day)
    window = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
    return IncidentView(9, "events", "null_spike", windows={"current": window})


def _count(context: PlaybookContext, relation: str = "") -> int:
    with context.source() as source:
        if not relation:
            return int(source.table.count().execute())
        backend = source.table.get_backend()
        return int(backend.table(relation).count().execute())


def test_a_window_is_excluded_from_reads_and_the_clean_view_then_released(
    table_url: tuple[str, str], tmp_path: Path
):
    engine, url = table_url
    context = _context(engine, url, tmp_path)
    plan = PLAYBOOK.plan(_incident(6), QuarantineParams(), context)
    (exclude, _) = plan.steps
    assert (exclude.action, exclude.target, exclude.details["rows"]) == (
        "exclude_window",
        "events",
        ROWS_PER_DAY,
    )
    assert url not in plan.canonical_json()  # a URL may hold a password: never in a plan
    log = PLAYBOOK.apply(plan, context)
    assert log[0]["outcome"] == "excluded"
    total = 8 * ROWS_PER_DAY
    assert _count(context) == total - ROWS_PER_DAY  # Warden's reads
    assert _count(context, "events_clean") == total - ROWS_PER_DAY  # consumers' view
    # The table itself is untouched: every row is still there.
    raw = open_dataset(
        "raw", DatasetConfig(format=engine, url=url, table="events", time_column="ts")
    )
    backend = raw.table.get_backend()
    assert int(backend.table("events").count().execute()) == total
    backend.disconnect()
    # A rerun does nothing twice.
    assert PLAYBOOK.apply(plan, context)[0]["outcome"] == "already excluded"
    assert [w["rows"] for w in windows_in_force(engine, url, "events")] == [ROWS_PER_DAY]
    assert read_manifests(tmp_path / "work")[0]["excluded_window"]["rows"] == ROWS_PER_DAY

    released = PLAYBOOK.rollback(plan, context)
    assert released[0] == {"action": "include_window", "target": "events", "outcome": "released"}
    assert _count(context) == total and _count(context, "events_clean") == total
    assert windows_in_force(engine, url, "events") == []
    assert read_manifests(tmp_path / "work")[0]["status"] == "released"
    assert PLAYBOOK.rollback(plan, context)[0]["outcome"] == "not in force"


def test_an_empty_window_and_a_file_incident_are_refused(
    table_url: tuple[str, str], tmp_path: Path
):
    engine, url = table_url
    context = _context(engine, url, tmp_path)
    with pytest.raises(PlanRefused, match="holds no rows"):
        PLAYBOOK.plan(_incident(20), QuarantineParams(), context)
    by_file = IncidentView(4, "events", "corrupt_partition", scope={"path": "/x.parquet"})
    with pytest.raises(PlanRefused, match="excludes a time window"):
        PLAYBOOK.plan(by_file, QuarantineParams(), context)
