"""Table quarantine names tables as the scanner does, on DuckDB and live PostgreSQL: a
mixed-case table beside its lower-case twin, reserved words and a schema prefix work end to
end (plan, apply, release), and an object Warden did not create is never replaced."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlanRefused, PlaybookContext
from playbooks.quarantine import Quarantine, QuarantineParams
from playbooks.sql_quarantine import connected, view_comment, windows_in_force
from tests.conftest import _fresh_postgres_database

DAY = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 4
PER_DAY = 24
PLAYBOOK = Quarantine()

#: Runs SQL statements (with `?` parameters) on a fresh database of one engine.
Database = tuple[str, str, Callable[[str, list[tuple[Any, ...]] | None], list[tuple[Any, ...]]]]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """(engine, url, run) for an empty database; `run(sql, rows)` executes `sql` (once per
    row of parameters when `rows` is given) and returns what it fetched."""
    engine = request.param
    if engine == "duckdb":
        yield (
            engine,
            str(tmp_path / "warehouse.duckdb"),
            partial(_run, engine, str(tmp_path / "warehouse.duckdb")),
        )
        return
    for url in _fresh_postgres_database():
        yield engine, url, partial(_run, engine, url)


def _run(
    engine: str, url: str, sql: str, rows: list[tuple[Any, ...]] | None = None
) -> list[tuple[Any, ...]]:
    with connected(engine, url) as cursor:
        if engine == "postgres":
            sql = sql.replace("?", "%s")
        if rows is not None:
            cursor.executemany(sql, rows)
            return []
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def _create_events(run: Any, engine: str, table_sql: str, time_sql: str, sign: float) -> None:
    """`table_sql` with a time column `time_sql` and a value column `"from"` holding
    `sign` * its row number, DAYS days of hourly rows."""
    kind = "TIMESTAMPTZ" if engine == "postgres" else "TIMESTAMP"
    run(f'CREATE TABLE {table_sql} ({time_sql} {kind}, "from" DOUBLE PRECISION)')
    rows = []
    for step in range(DAYS * PER_DAY):
        moment = DAY + timedelta(hours=step)
        rows.append((moment if engine == "postgres" else moment.replace(tzinfo=None), sign * step))
    run(f"INSERT INTO {table_sql} VALUES (?, ?)", rows)


def _context(engine: str, url: str, table: str, time_column: str, work: Path) -> PlaybookContext:
    config = DatasetConfig(format=engine, url=url, table=table, time_column=time_column)
    return PlaybookContext(
        DatasetLocation("events", engine, "", time_column, url=url, table=table),
        work,
        open_source=partial(open_dataset, "events", config),
    )


def _incident(day: int = DAYS - 1) -> IncidentView:
    start = DAY + timedelta(days=day)
    window = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
    return IncidentView(7, "events", "null_spike", windows={"current": window})


def _view_rows(run: Any, view_sql: str) -> tuple[int, float]:
    ((count, total),) = run(f'SELECT count(*), sum("from") FROM {view_sql}')
    return int(count), float(total or 0)


def test_a_mixed_case_table_gets_the_view_over_exactly_itself(database: Database, tmp_path: Path):
    engine, url, run = database
    # DuckDB resolves names without regard to case, so it cannot hold both tables; there
    # `Events` alone must still work, quoted.
    if engine == "postgres":
        _create_events(run, engine, "events", "ts", sign=1.0)
    _create_events(run, engine, '"Events"', "ts", sign=-1.0)
    context = _context(engine, url, "Events", "ts", tmp_path / "work")
    plan = PLAYBOOK.plan(_incident(), QuarantineParams(), context)
    assert PLAYBOOK.apply(plan, context)[0]["outcome"] == "excluded"
    kept = (DAYS - 1) * PER_DAY
    # Only the mixed-case table's (negative) rows, less the excluded day.
    assert _view_rows(run, '"Events_clean"') == (kept, -float(sum(range(kept))))
    if engine == "postgres":
        names = {
            name
            for (name,) in run(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
            )
        }
        assert names == {"Events_clean"}  # no `events_clean` over the lower-case twin
    ((comment,),) = run(
        "SELECT obj_description('\"Events_clean\"'::regclass, 'pg_class')"
        if engine == "postgres"
        else "SELECT comment FROM duckdb_views() WHERE view_name = 'Events_clean'"
    )
    assert comment == view_comment("Events")
    PLAYBOOK.rollback(plan, context)
    assert _view_rows(run, '"Events_clean"')[0] == DAYS * PER_DAY


@pytest.mark.parametrize(
    ("table", "table_sql", "time_column"),
    [("order", '"order"', "select"), ("select.Group", '"select"."Group"', "to")],
)
def test_reserved_words_and_a_schema_work_end_to_end(
    database: Database, tmp_path: Path, table: str, table_sql: str, time_column: str
):
    engine, url, run = database
    if "." in table:
        run('CREATE SCHEMA "select"')
    _create_events(run, engine, table_sql, f'"{time_column}"', sign=1.0)
    context = _context(engine, url, table, time_column, tmp_path / "work")
    plan = PLAYBOOK.plan(_incident(), QuarantineParams(), context)
    assert plan.steps[0].details["rows"] == PER_DAY
    assert PLAYBOOK.apply(plan, context)[0]["outcome"] == "excluded"
    view_sql = table_sql[:-1] + '_clean"'
    assert _view_rows(run, view_sql)[0] == (DAYS - 1) * PER_DAY
    with context.source() as source:  # Warden's reads leave the window out too
        assert int(source.table.count().execute()) == (DAYS - 1) * PER_DAY
    assert PLAYBOOK.apply(plan, context)[0]["outcome"] == "already excluded"
    assert PLAYBOOK.rollback(plan, context)[0]["outcome"] == "released"
    assert _view_rows(run, view_sql)[0] == DAYS * PER_DAY
    assert windows_in_force(engine, url, table) == []


@pytest.mark.parametrize(
    ("impostor", "its_rows"),
    [
        (["CREATE VIEW events_clean AS SELECT 1 AS mine"], [(1,)]),
        (["CREATE TABLE events_clean (mine INTEGER)"], []),
        # A view that even carries a comment, but not Warden's.
        (
            [
                "CREATE VIEW events_clean AS SELECT 2 AS mine",
                "COMMENT ON VIEW events_clean IS 'ours'",
            ],
            [(2,)],
        ),
    ],
)
def test_an_object_warden_did_not_create_is_never_replaced(
    database: Database, tmp_path: Path, impostor: list[str], its_rows: list[tuple[int]]
):
    engine, url, run = database
    _create_events(run, engine, "events", "ts", sign=1.0)
    context = _context(engine, url, "events", "ts", tmp_path / "work")
    plan = PLAYBOOK.plan(_incident(), QuarantineParams(), context)  # before the impostor
    for statement in impostor:
        run(statement)
    with pytest.raises(PlanRefused, match="Warden did not create"):
        PLAYBOOK.plan(_incident(), QuarantineParams(), context)
    with pytest.raises(PlanRefused, match="nothing was changed"):
        PLAYBOOK.apply(plan, context)
    # Nothing changed: the impostor is whole, and no window was recorded.
    assert run("SELECT mine FROM events_clean") == its_rows
    tables = {name for (name,) in run("SELECT table_name FROM information_schema.tables")}
    assert "warden_quarantine" not in tables
