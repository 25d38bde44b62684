"""The escalation job and an audited change take their locks in one order on PostgreSQL
(the audit chain's, then the group's), so they never deadlock: while another transaction
holds the audit chain's lock, the job waits for it *before* locking the group, and the
other transaction can still lock the group (as a scan joining it does).

Deterministic: the test goes on when the job's thread sends its request for the audit lock
(an SQLAlchemy `before_cursor_execute` event), not after a sleep; the other transaction then
asks for the group's row with NOWAIT, which fails at once if the job locked it first."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlmodel import select

from daemon.config.models import WardenConfig
from daemon.incidents.escalation_runner import fire_due
from daemon.incidents.incidents import IncidentPolicy, observe
from daemon.store.audit import lock_audit_chain
from daemon.store.engine import Store, open_store
from daemon.store.oncall_models import IncidentGroup
from daemon.store.types import utcnow
from detectors.results import DetectorResult, Finding

CONFIG = WardenConfig.model_validate(
    {
        "pagerduty": {"routing_key": "R0UT1NGKEY0123456789ABCDEFGHIJKL"},
        "escalations": [{"name": "p", "steps": [{"after": "0m", "page": "pagerduty"}]}],
    }
)


@pytest.fixture
def postgres_store() -> Iterator[Store]:
    from tests.conftest import _fresh_postgres_database

    for url in _fresh_postgres_database():
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()


@pytest.mark.postgres
def test_the_escalation_job_waits_for_the_audit_lock_before_locking_the_group(postgres_store):
    store = postgres_store
    with store.session() as session:
        observe(
            session,
            monitor="m",
            dataset="loans",
            severity="critical",
            result=DetectorResult.from_findings(
                [Finding("null_spike", "salary", "null_rate", 0.4, 0.05, True)]
            ),
            windows={},
            at=utcnow(),
            policy=IncidentPolicy.from_config(CONFIG),
        )
    fired: list = []
    asking_for_the_audit_lock = threading.Event()

    def notice(connection, cursor, statement, *args) -> None:
        if "pg_advisory_xact_lock" in statement and threading.current_thread() is job:
            asking_for_the_audit_lock.set()

    job = threading.Thread(
        target=lambda: fired.extend(fire_due(store, CONFIG, identity="job", now=utcnow()))
    )
    event.listen(store.engine, "before_cursor_execute", notice)
    try:
        with store.session() as holder:
            lock_audit_chain(holder)  # as a scan does at its first audit event
            job.start()
            assert asking_for_the_audit_lock.wait(timeout=60), "the job never asked for it"
            # Whatever the job locked before asking for the audit lock, it holds now: it must
            # not be the group, or a scan joining the group would deadlock with the job.
            group = holder.exec(select(IncidentGroup).with_for_update(nowait=True)).one()
            assert group.status == "open"
        job.join(timeout=60)
    finally:
        event.remove(store.engine, "before_cursor_execute", notice)
    assert [firing.action for firing in fired] == ["page"]
