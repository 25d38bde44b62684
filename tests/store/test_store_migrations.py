"""The migrations build exactly the schema of `daemon.store.models`, once, on both backends."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, col, select

import daemon
from daemon.store.engine import Store, open_store
from daemon.store.errors import StoreError
from daemon.store.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from daemon.store.models import ALL_TABLES, Incident, Monitor, PlaybookRun, ProposalRequest


def _ignore_sqlite_empty_string_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Alembic's SQLite comparison unquotes only non-empty literals, so the reflected
    ``DEFAULT ''`` of incident.title (``('')``) reads as a change from the empty string. Say
    "same" for exactly that case and let Alembic compare everything else (None = default)."""
    if inspected_default == "('')" and rendered_metadata_default == "":
        return False
    return None


def _schema_differences(store: Store) -> list[Any]:
    with store.connect(readonly=True) as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": _ignore_sqlite_empty_string_default,
            },
        )
        return compare_metadata(context, SQLModel.metadata)


def _schema_snapshot(store: Store) -> dict[str, Any]:
    with store.connect(readonly=True) as connection:
        inspector = inspect(connection)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
            }
            for table in inspector.get_table_names()
        }


def test_migrated_schema_matches_the_models(store: Store) -> None:
    assert _schema_differences(store) == []


def test_every_model_table_is_created(store: Store) -> None:
    with store.connect(readonly=True) as connection:
        tables = set(inspect(connection).get_table_names())
    assert tables == {model.__tablename__ for model in ALL_TABLES} | {"alembic_version"}


def test_partial_unique_index_carries_its_condition(store: Store) -> None:
    with store.connect(readonly=True) as connection:
        indexes = {i["name"]: i for i in inspect(connection).get_indexes("incident")}
    index = indexes["uq_incident_active_fingerprint"]
    assert index["unique"]
    assert index["column_names"] == ["fingerprint"]
    where = index["dialect_options"][f"{store.backend}_where"]
    for status in ("open", "acknowledged", "remediating"):
        assert status in str(where)


def test_store_is_at_head_after_opening(store: Store) -> None:
    assert head_revision() == "0017"
    assert current_revision(store) == head_revision()


def test_upgrade_from_0001_keeps_incidents_and_backfills_last_checked(store_url: str) -> None:
    """A store left at revision 0001 with an incident in it upgrades to head in place."""
    store = open_store(store_url, migrate=False)
    with store.connect() as connection:
        config = alembic_config(connection)
        command.upgrade(config, "0001")
        connection.commit()
    seen = datetime(2025, 1, 5, tzinfo=UTC)
    with store.connect() as connection:
        connection.execute(
            text(
                "INSERT INTO incident (fingerprint, monitor, dataset, pattern, scope, severity,"
                " status, title, first_seen, last_seen, occurrences, clean_streak, evidence)"
                " VALUES ('f', 'm', 'd', 'null_spike', '{}', 'warning', 'open', 't', :seen, :seen,"
                " 3, 0, '{}')"
            ),
            {"seen": seen},
        )
        connection.commit()
    upgrade_to_head(store)
    assert current_revision(store) == head_revision()
    with store.session(readonly=True) as session:
        (incident,) = session.exec(select(Incident)).all()
        assert incident.occurrences == 3 and incident.last_checked_at == seen
        # 0003: not closed, not a false alarm, not routed yet, not silenced.
        assert incident.false_alarm is False and incident.closed_at is None
        assert incident.route is None and incident.silenced_by is None
    store.close()


def test_upgrade_to_0006_queues_routed_incidents_that_never_got_a_run(store_url: str) -> None:
    """Before the proposal queue, a crash between a scan's commit and its planning left an
    incident routed to a playbook with no run, forever: 0006 queues exactly those."""
    store = open_store(store_url, migrate=False)
    with store.connect() as connection:
        command.upgrade(alembic_config(connection), "0005")
        connection.commit()
    seen = datetime(2025, 1, 5, tzinfo=UTC)
    routes = {
        "stranded": ('{"playbook": "quarantine", "approval": "human"}', "open"),
        "notify_only": ('{"playbook": null, "approval": "human"}', "open"),
        "resolved": ('{"playbook": "quarantine", "approval": "human"}', "resolved"),
        "has_run": ('{"playbook": "quarantine", "approval": "human"}', "acknowledged"),
        "unrouted": ("null", "open"),
    }
    with store.connect() as connection:
        for name, (route, status) in routes.items():
            connection.execute(
                text(
                    "INSERT INTO incident (fingerprint, monitor, dataset, pattern, scope,"
                    " severity, status, title, first_seen, last_seen, occurrences,"
                    " clean_streak, evidence, last_checked_at, false_alarm, route)"
                    " VALUES (:name, 'm', 'd', 'null_spike', '{}', 'warning', :status, :title,"
                    " :seen, :seen, 1, 0, '{}', :seen, false, CAST(:route AS "
                    + ("JSONB" if store.backend == "postgresql" else "TEXT")
                    + "))"
                ),
                {"name": name, "title": name, "status": status, "seen": seen, "route": route},
            )
        connection.execute(
            text(
                "INSERT INTO playbook_run (incident_id, playbook, params, plan, plan_hash,"
                " origin, approval_policy, status, step_log, created_at, updated_at)"
                " SELECT id, 'quarantine', '{}', '{}', 'h', 'rule', 'human', 'rejected', '[]',"
                " :seen, :seen FROM incident WHERE fingerprint = 'has_run'"
            ),
            {"seen": seen},
        )
        connection.commit()
    upgrade_to_head(store)
    with store.session(readonly=True) as session:
        queued = session.exec(
            select(Incident.fingerprint, ProposalRequest.status).join(
                ProposalRequest, col(ProposalRequest.incident_id) == Incident.id
            )
        ).all()
    store.close()
    assert queued == [("stranded", "pending")]


def test_upgrade_to_0007_marks_running_runs_as_applying(store_url: str) -> None:
    """Runs `running` under the old executor were applying (its only phase with a
    heartbeat): 0007 marks them so, and leaves the others without a phase."""
    store = open_store(store_url, migrate=False)
    with store.connect() as connection:
        command.upgrade(alembic_config(connection), "0006")
        connection.commit()
    seen = datetime(2025, 1, 5, tzinfo=UTC)
    with store.connect() as connection:
        connection.execute(
            text(
                "INSERT INTO incident (fingerprint, monitor, dataset, pattern, scope,"
                " severity, status, title, first_seen, last_seen, occurrences,"
                " clean_streak, evidence, last_checked_at, false_alarm)"
                " VALUES ('f', 'm', 'd', 'null_spike', '{}', 'warning', 'remediating', 't',"
                " :seen, :seen, 1, 0, '{}', :seen, false)"
            ),
            {"seen": seen},
        )
        for status in ("running", "succeeded", "approved"):
            connection.execute(
                text(
                    "INSERT INTO playbook_run (incident_id, playbook, params, plan, plan_hash,"
                    " origin, approval_policy, status, step_log, created_at, updated_at)"
                    " SELECT id, 'quarantine', '{}', '{}', 'h', 'rule', 'human', :status, '[]',"
                    " :seen, :seen FROM incident"
                ),
                {"seen": seen, "status": status},
            )
        connection.commit()
    upgrade_to_head(store)
    with store.session(readonly=True) as session:
        phases = session.exec(select(PlaybookRun.status, PlaybookRun.phase)).all()
    store.close()
    assert sorted(phases, key=lambda row: row[0]) == [
        ("approved", None),
        ("running", "applying"),
        ("succeeded", None),
    ]


def test_migrating_twice_is_a_no_op(store: Store, store_url: str) -> None:
    before = _schema_snapshot(store)
    with store.session() as session:
        session.add(Monitor(name="m", kind="drift", dataset="d", config={}, config_hash="h"))

    upgrade_to_head(store)
    with open_store(store_url) as reopened:
        assert current_revision(reopened) == head_revision()

    assert _schema_snapshot(store) == before
    with store.session(readonly=True) as session:
        assert session.exec(select(Monitor.name)).all() == ["m"]
    with store.connect(readonly=True) as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_open_without_migrate_leaves_the_database_alone(store_url: str) -> None:
    with open_store(store_url, migrate=False) as store:
        assert current_revision(store) is None
        with store.connect(readonly=True) as connection:
            assert inspect(connection).get_table_names() == []


def test_concurrent_migrators_all_succeed_once(store_url: str) -> None:
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def open_and_close() -> None:
        barrier.wait()
        try:
            open_store(store_url).close()
        except BaseException as exc:  # noqa: BLE001  (collected and asserted on below)
            failures.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with open_store(store_url, migrate=False) as store:
        assert current_revision(store) == head_revision()
        assert _schema_differences(store) == []


def test_concurrent_migrating_processes_all_succeed_once(store_url: str) -> None:
    # Replicas starting together: separate processes, serialised only by the database.
    repo_root = str(Path(daemon.__file__).resolve().parent.parent)
    script = (
        "import sys; from daemon.store.engine import open_store; open_store(sys.argv[1]).close()"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url],
            cwd=repo_root,  # python -c imports from the working folder
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(process.communicate(timeout=60)[1], process.returncode) for process in processes]

    assert outcomes == [("", 0)] * 3
    with open_store(store_url, migrate=False) as store:
        assert current_revision(store) == head_revision()
        assert _schema_differences(store) == []


def test_downgrade_removes_everything_and_upgrade_restores_it(store: Store) -> None:
    with store.connect() as connection:
        command.downgrade(alembic_config(connection), "base")
    with store.connect(readonly=True) as connection:
        assert inspect(connection).get_table_names() == ["alembic_version"]
    if store.backend == "postgresql":
        with store.connect(readonly=True) as connection:
            functions = connection.execute(
                text(
                    "SELECT count(*) FROM pg_proc WHERE proname = 'warden_audit_event_append_only'"
                )
            ).scalar()
        assert functions == 0

    upgrade_to_head(store)
    assert current_revision(store) == head_revision()
    assert _schema_differences(store) == []


def test_store_migrated_by_a_newer_warden_is_refused(store: Store, store_url: str) -> None:
    with store.connect() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        connection.commit()

    with pytest.raises(StoreError) as caught:
        open_store(store_url)

    message = str(caught.value)
    assert "\n" not in message
    assert "9999_future" in message
    assert "newer Warden" in message
    assert f"this version's newest is {head_revision()}" in message


def test_the_shortcut_knows_the_same_newest_revision_as_alembic() -> None:
    """`schema_version` reads the newest revision from the file names; each file declares
    the revision its name starts with, and the highest is Alembic's head."""
    from daemon.store.schema_version import MIGRATION_FILE, VERSIONS_DIR, newest_known_revision

    scripts = ScriptDirectory.from_config(alembic_config())
    for script in scripts.walk_revisions():
        assert script.path is not None
        match = MIGRATION_FILE.match(Path(script.path).name)
        assert match is not None and match.group(1) == script.revision, script.path
    names = [path.name for path in VERSIONS_DIR.iterdir() if path.suffix == ".py"]
    assert len([n for n in names if MIGRATION_FILE.match(n)]) == len(list(scripts.walk_revisions()))
    assert newest_known_revision() == head_revision()


def test_opening_a_store_at_head_skips_alembic_and_one_behind_is_migrated(
    store: Store, store_url: str
) -> None:
    from daemon.store.schema_version import is_at_newest_revision

    assert is_at_newest_revision(store)
    # One revision behind: the shortcut says no, and opening migrates it to head again.
    with store.connect() as connection:
        command.downgrade(alembic_config(connection), "-1")
        connection.commit()
    assert not is_at_newest_revision(store)
    reopened = open_store(store_url)
    try:
        assert current_revision(reopened) == head_revision()
        assert is_at_newest_revision(reopened)
    finally:
        reopened.close()
