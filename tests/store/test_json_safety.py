"""Text from the data never makes a JSON write fail: control characters and lone surrogates
are escaped at the JSON column type (every JSONB column), the same way on SQLite and
PostgreSQL; audit payloads (plain JSON) take them as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from daemon.store.audit import append_audit, verify_audit_chain
from daemon.store.engine import Store
from daemon.store.json_safety import (
    MAX_STORED_STRING,
    bounded_json,
    cap_text,
    sanitize_json,
    sanitize_text,
)
from daemon.store.models import AuditEvent, Incident, OutboxMessage, ScanRun

#: A value as the data may hold it: NUL, a bell, an escape, a lone surrogate (a file name
#: decoded with surrogateescape), and the whitespace controls that JSON keeps as they are.
DIRTY = "a\x00b\x07c\x1bd\udcfee\tf\ng\rh"
CLEAN = "a\\u0000b\\u0007c\\u001bd\ufffde\tf\ng\rh"


def test_the_rules_escape_controls_keep_whitespace_and_are_idempotent():
    assert sanitize_text(DIRTY) == CLEAN
    assert sanitize_text(CLEAN) == CLEAN
    assert sanitize_text("\x7f é 🚨") == "\x7f é 🚨"  # DEL and non-ASCII are fine in JSON
    document = {"k\x00": [DIRTY, 1, 2.5, None, True, {"x\x01": ("y\x02",)}]}
    assert sanitize_json(document) == {
        "k\\u0000": [CLEAN, 1, 2.5, None, True, {"x\\u0001": ["y\\u0002"]}]
    }
    clean = {"a": ["b", 1, {"c": None}]}
    assert sanitize_json(clean) is clean  # nothing to change: no copy


def test_bounded_caps_strings_and_keys_with_their_length():
    long = "x" * 100_000
    capped = cap_text(long)
    assert capped == "x" * MAX_STORED_STRING + "… (truncated, 100000 characters)"
    document = bounded_json({long: [long, float("nan"), float("inf")], "short": "ok\x00"})
    assert document == {capped: [capped, None, None], "short": "ok\\u0000"}


def _first(store: Store, model: Any) -> Any:
    with store.session(readonly=True) as session:
        return session.exec(select(model)).first()


def test_text_from_the_data_is_sanitised_in_every_json_column(store: Store):
    document = {"value": DIRTY, DIRTY: [DIRTY], "n": 1}
    expected = {"value": CLEAN, CLEAN: [CLEAN], "n": 1}
    with store.session() as session:
        session.add(
            Incident(
                fingerprint="f" * 64,
                monitor="m",
                dataset="d",
                pattern="category_emergence",
                scope={"column": DIRTY},
                evidence=document,
            )
        )
        session.add(OutboxMessage(channel="#c", dedupe_key="k", payload=document))
        session.add(
            ScanRun(
                monitor="m",
                scheduled_for=datetime(2025, 1, 1, tzinfo=UTC),
                claimed_by="cli",
                result=document,
            )
        )
    incident = _first(store, Incident)
    assert (incident.evidence, incident.scope) == (expected, {"column": CLEAN})
    assert _first(store, OutboxMessage).payload == expected
    run = _first(store, ScanRun)
    assert run.result == expected
    with store.session() as session:  # updates are sanitised too; None stays JSON null
        run = session.get(ScanRun, run.id)
        run.result = {"again": "\x00"}
        session.add(run)
    assert _first(store, ScanRun).result == {"again": "\\u0000"}


def test_audit_payloads_with_control_characters_are_written_and_verify(store: Store):
    """The audit payload column is plain JSON, not JSONB, on PostgreSQL (see
    `AuditEvent.payload`), which takes NUL and lone surrogates: the payload is kept exactly
    as hashed, and the chain verifies."""
    with store.session() as session:
        for number in range(3):
            append_audit(
                session,
                actor="scanner",
                action="scan.completed",
                entity_type="scan_run",
                entity_id=str(number),
                payload={"value": DIRTY, DIRTY: number},
            )
    with store.session(readonly=True) as session:
        assert verify_audit_chain(session).ok
        payloads = [event.payload for event in session.exec(select(AuditEvent)).all()]
    assert payloads == [{"value": DIRTY, DIRTY: number} for number in range(3)]
