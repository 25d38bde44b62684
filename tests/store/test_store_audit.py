"""The audit trail: appended in the caller's transaction, hash-chained, tamper-evident, linear."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, event, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from daemon.store.audit import (
    GENESIS_HASH,
    AuditVerification,
    append_audit,
    event_hash,
    verify_audit_chain,
)
from daemon.store.engine import Store
from daemon.store.errors import StoreError
from daemon.store.models import AuditEvent, Monitor

POSTGRES_ONLY = pytest.mark.parametrize(
    "store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _append(store: Store, count: int) -> None:
    with store.session() as session:
        for number in range(count):
            append_audit(
                session,
                actor="warden",
                action="incident.updated",
                entity_type="incident",
                entity_id=number,
                payload={"number": number, "psi": number / 7},
            )


def _verify(store: Store, **options: Any) -> AuditVerification:
    with store.session(readonly=True) as session:
        return verify_audit_chain(session, **options)


def _tamper(store: Store, *statements: str) -> None:
    """Run raw SQL on audit_event as someone with direct database access would.

    On PostgreSQL the append-only trigger must be switched off first (as its owner could).
    """
    with store.connect() as connection:
        if store.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        for statement in statements:
            connection.execute(text(statement))
        if store.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        connection.commit()


def test_appended_events_form_a_valid_chain(store: Store) -> None:
    _append(store, 5)

    with store.session(readonly=True) as session:
        events = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    for previous, current in itertools.pairwise(events):
        assert current.prev_hash == previous.hash
    for e in events:
        assert e.hash == event_hash(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            entity_type=e.entity_type,
            entity_id=e.entity_id,
            payload=e.payload,
            prev_hash=e.prev_hash,
        )
    assert _verify(store) == AuditVerification(ok=True, checked=5, last_hash=events[-1].hash)


def test_empty_trail_verifies(store: Store) -> None:
    assert _verify(store) == AuditVerification(ok=True, checked=0)


def test_append_returns_what_is_stored(store: Store) -> None:
    new_york = timezone(timedelta(hours=-5))
    at = datetime(2025, 3, 9, 7, 30, 15, 123456, tzinfo=new_york)
    with store.session() as session:
        appended = append_audit(
            session,
            actor="U123",
            action="run.approved",
            entity_type="playbook_run",
            entity_id="7",
            payload={"when": at, "plan": ("a", "b")},
            at=at,
        )

    with store.session(readonly=True) as session:
        stored = session.get(AuditEvent, 1)
    assert stored is not None
    assert stored.model_dump() == appended.model_dump()
    assert stored.at == at and stored.at.utcoffset() == timedelta(0)
    # What was hashed is what is stored: datetimes as UTC text, tuples as lists.
    assert stored.payload == {"when": "2025-03-09T12:30:15.123456Z", "plan": ["a", "b"]}
    assert _verify(store).ok


def test_naive_at_is_utc(store: Store) -> None:
    with store.session() as session:
        append_audit(
            session,
            actor="a",
            action="b",
            entity_type="c",
            entity_id="d",
            payload={},
            at=datetime(2025, 1, 1, 12, 0),
        )
    with store.session(readonly=True) as session:
        stored = session.get(AuditEvent, 1)
    assert stored is not None
    assert stored.at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_event_commits_and_rolls_back_with_the_callers_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        session.add(Monitor(name="m", kind="drift", dataset="d", config={}, config_hash="h"))
        append_audit(
            session,
            actor="a",
            action="monitor.created",
            entity_type="monitor",
            entity_id="m",
            payload={},
        )
        raise RuntimeError("the change failed")

    assert _verify(store) == AuditVerification(ok=True, checked=0)
    _append(store, 1)  # no gap left by the rolled-back event
    with store.session(readonly=True) as session:
        assert session.execute(select(AuditEvent.seq)).scalars().all() == [1]
    assert _verify(store).ok


BAD_EVENTS: list[tuple[dict[str, Any], type[Exception]]] = [
    ({"payload": []}, TypeError),
    ({"payload": {"psi": float("nan")}}, ValueError),
    ({"payload": {"blob": object()}}, TypeError),
    ({"actor": "x" * 201}, ValueError),
    ({"entity_id": ""}, ValueError),
]


def test_bad_events_are_refused_before_touching_the_chain(store: Store) -> None:
    for options, problem in BAD_EVENTS:
        arguments = {
            "actor": "a",
            "action": "b",
            "entity_type": "c",
            "entity_id": "d",
            "payload": {},
            **options,
        }
        with pytest.raises(problem), store.session() as session:
            append_audit(session, **arguments)
    assert _verify(store) == AuditVerification(ok=True, checked=0)


def test_readonly_session_cannot_append(store: Store) -> None:
    with pytest.raises(StoreError, match="writable session"), store.session(readonly=True) as s:
        append_audit(s, actor="a", action="b", entity_type="c", entity_id="d", payload={})


@SQLITE_ONLY
def test_sqlite_session_without_the_write_lock_cannot_append(store: Store) -> None:
    plain_engine = create_engine(store.url)  # pysqlite's own deferred transactions
    try:
        with pytest.raises(StoreError, match="write lock"), Session(plain_engine) as session:
            append_audit(session, actor="a", action="b", entity_type="c", entity_id="d", payload={})
    finally:
        plain_engine.dispose()


@pytest.mark.parametrize("chunk_size", [1000, 7])
def test_edited_payload_is_detected(store: Store, chunk_size: int) -> None:
    _append(store, 25)
    _tamper(store, "UPDATE audit_event SET payload = '{\"number\": 999}' WHERE seq = 17")

    result = _verify(store, chunk_size=chunk_size)
    assert not result.ok
    assert result.first_bad_seq == 17
    assert result.checked == 16
    assert result.problem == "event 17: hash does not match its content (edited?)"


@pytest.mark.parametrize("chunk_size", [1000, 7])
def test_deleted_event_is_detected(store: Store, chunk_size: int) -> None:
    _append(store, 25)
    _tamper(store, "DELETE FROM audit_event WHERE seq = 12")

    result = _verify(store, chunk_size=chunk_size)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 12, 11)
    assert result.problem == "event 12 missing (gap between 11 and 13)"


def test_several_deleted_events_are_named(store: Store) -> None:
    _append(store, 10)
    _tamper(store, "DELETE FROM audit_event WHERE seq BETWEEN 4 AND 6")

    result = _verify(store)
    assert result.first_bad_seq == 4
    assert result.problem == "events 4 to 6 missing (gap between 3 and 7)"


def test_deleted_first_events_are_detected(store: Store) -> None:
    _append(store, 5)
    _tamper(store, "DELETE FROM audit_event WHERE seq = 1")

    result = _verify(store)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)
    assert result.problem == "event 1 missing (the trail starts at 2)"


def test_swapped_events_are_detected(store: Store) -> None:
    _append(store, 10)
    table = AuditEvent.__table__
    columns = [c for c in table.columns if c.name != "seq"]  # type: ignore[attr-defined]
    with store.session(readonly=True) as session:
        fifth, sixth = (
            session.execute(select(*columns).where(table.c.seq == seq)).one()._asdict()  # type: ignore[attr-defined]
            for seq in (5, 6)
        )
    with store.connect() as connection:
        if store.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        where = table.c.seq  # type: ignore[attr-defined]
        # hash is unique: park event 6's hash first.
        connection.execute(update(table).where(where == 6).values(hash="parked"))
        connection.execute(update(table).where(where == 5).values(**sixth))
        connection.execute(update(table).where(where == 6).values(**fifth))
        if store.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        connection.commit()

    result = _verify(store)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 5, 4)
    assert result.problem == "event 5: hash does not match its content (edited?)"


def test_edited_and_rehashed_event_breaks_the_next_link(store: Store) -> None:
    _append(store, 10)
    with store.session(readonly=True) as session:
        eighth = session.get(AuditEvent, 8)
    assert eighth is not None
    forged = event_hash(
        seq=8,
        at=eighth.at,
        actor="intruder",
        action=eighth.action,
        entity_type=eighth.entity_type,
        entity_id=eighth.entity_id,
        payload=eighth.payload,
        prev_hash=eighth.prev_hash,
    )
    _tamper(store, f"UPDATE audit_event SET actor = 'intruder', hash = '{forged}' WHERE seq = 8")

    result = _verify(store)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 9, 8)
    assert result.problem == "event 9: prev_hash does not match event 8 (reordered or inserted?)"


@SQLITE_ONLY
def test_payload_edited_into_invalid_json_is_reported(store: Store) -> None:
    _append(store, 3)
    _tamper(store, "UPDATE audit_event SET payload = 'not json' WHERE seq = 2")

    result = _verify(store)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.problem == "event 2: payload is not valid JSON (edited?)"


def test_verify_reads_in_chunks(store: Store) -> None:
    _append(store, 25)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM audit_event" in statement:
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        result = _verify(store, chunk_size=10)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)

    assert result == AuditVerification(ok=True, checked=25, last_hash=result.last_hash)
    assert len(statements) == 3  # 10 + 10 + 5 rows
    assert all("LIMIT" in statement for statement in statements)


@POSTGRES_ONLY
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'intruder' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
        "TRUNCATE audit_event",
    ],
    ids=["update", "delete", "truncate"],
)
def test_postgres_trigger_keeps_the_trail_append_only(store: Store, statement: str) -> None:
    _append(store, 2)

    with pytest.raises(DBAPIError, match="audit_event is append-only"), store.connect() as conn:
        conn.execute(text(statement))

    assert _verify(store).checked == 2
    with store.session(readonly=True) as session:
        assert session.get(AuditEvent, 1).actor == "warden"  # type: ignore[union-attr]


def test_concurrent_appenders_leave_one_linear_chain(store: Store) -> None:
    threads_count, appends_each = 4, 50
    barrier = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def appender(worker: int) -> None:
        barrier.wait()
        try:
            for number in range(appends_each):
                with store.session() as session:  # one transaction per event
                    append_audit(
                        session,
                        actor=f"worker-{worker}",
                        action="tick",
                        entity_type="worker",
                        entity_id=worker,
                        payload={"number": number},
                    )
        except BaseException as exc:  # noqa: BLE001  (collected and asserted on below)
            failures.append(exc)

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    result = _verify(store)
    assert (result.ok, result.checked) == (True, threads_count * appends_each)
    with store.session(readonly=True) as session:
        rows = session.execute(select(AuditEvent.actor, AuditEvent.payload)).all()
    for worker in range(threads_count):
        numbers = [payload["number"] for actor, payload in rows if actor == f"worker-{worker}"]
        assert sorted(numbers) == list(range(appends_each))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one store, a growing chain
)
@given(payload=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
def test_any_json_payload_keeps_the_chain_valid(store: Store, payload: dict[str, Any]) -> None:
    with store.session() as session:
        appended = append_audit(
            session, actor="a", action="b", entity_type="c", entity_id="d", payload=payload
        )
    with store.session(readonly=True) as session:
        assert session.get(AuditEvent, appended.seq).payload == payload  # type: ignore[union-attr]
    assert _verify(store).ok
