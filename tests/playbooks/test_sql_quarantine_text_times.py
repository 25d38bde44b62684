"""Quarantine of a table whose time column is text read with the dataset's `time_format`:
the clean view parses the text as the scanner does, so consumers of the view and Warden's
own reads leave out the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import DatasetLocation, IncidentView, PlaybookContext
from playbooks.quarantine import Quarantine, QuarantineParams

DAY = datetime(2025, 3, 1, tzinfo=UTC)
ROWS_PER_DAY = 24
TIME_FORMAT = "%m/%d/%Y %I:%M %p"


def _rows() -> list[tuple[str, float]]:
    instants = [DAY + timedelta(hours=h) for h in range(8 * ROWS_PER_DAY)]
    return [(t.strftime(TIME_FORMAT), float(i)) for i, t in enumerate(instants)]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def table_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(engine, url) of a database holding `events`, its times as US 12-hour text."""
    if request.param == "duckdb":
        import duckdb

        path = str(tmp_path / "warehouse.duckdb")
        with duckdb.connect(path) as connection:
            connection.execute("CREATE TABLE events (ts VARCHAR, x DOUBLE)")
            connection.executemany("INSERT INTO events VALUES (?, ?)", _rows())
        yield "duckdb", path
        return
    import psycopg

    from tests.conftest import _fresh_postgres_database

    for url in _fresh_postgres_database():
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute("CREATE TABLE events (ts text, x double precision)")
            with connection.cursor().copy("COPY events (ts, x) FROM STDIN") as copy:
                for row in _rows():
                    copy.write_row(row)
        yield "postgres", plain


def test_the_clean_view_parses_text_times_with_the_format(
    table_url: tuple[str, str], tmp_path: Path
):
    engine, url = table_url
    config = DatasetConfig(
        format=engine, url=url, table="events", time_column="ts", time_format=TIME_FORMAT
    )
    context = PlaybookContext(
        DatasetLocation(
            "events", engine, "", "ts", url=url, table="events", time_format=TIME_FORMAT
        ),
        tmp_path / "work",
        open_source=partial(open_dataset, "events", config),
    )
    start = DAY + timedelta(days=6)
    window = {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}
    incident = IncidentView(9, "events", "null_spike", windows={"current": window})
    playbook = Quarantine()
    plan = playbook.plan(incident, QuarantineParams(), context)
    assert plan.steps[0].details["rows"] == ROWS_PER_DAY
    assert plan.steps[0].details["time_format"] == TIME_FORMAT
    assert playbook.apply(plan, context)[0]["outcome"] == "excluded"
    total = 8 * ROWS_PER_DAY
    with context.source() as source:
        assert int(source.table.count().execute()) == total - ROWS_PER_DAY  # Warden's reads
        clean = source.table.get_backend().table("events_clean")
        assert int(clean.count().execute()) == total - ROWS_PER_DAY  # consumers' view
        # The rows left out are exactly the quarantined day's.
        kept = clean.x.execute()
        assert not set(range(6 * ROWS_PER_DAY, 7 * ROWS_PER_DAY)) & {int(v) for v in kept}
