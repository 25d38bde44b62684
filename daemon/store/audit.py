"""The append-only, hash-chained audit trail.

Each event's ``hash`` is the sha256 (hex) of the canonical JSON of the object
``{seq, at, actor, action, entity_type, entity_id, payload, prev_hash}``: keys sorted, no
whitespace, ASCII only, datetimes as ISO 8601 in UTC (``2025-01-31T12:00:00.000000Z``), NaN and
infinities refused. ``prev_hash`` is the previous event's hash (64 zeros for the first), and
``seq`` runs 1, 2, 3... without gaps. Editing, deleting, inserting or reordering an event
therefore breaks a check that `verify_audit_chain` reports. Removing events from the *end*
leaves a valid shorter chain: anchor `AuditVerification.last_hash` somewhere else (a log,
a ticket) when that matters.

The chain stays linear under concurrent appenders because the read of the tail and the insert
happen under one lock held to the end of the transaction:

- PostgreSQL: ``pg_advisory_xact_lock(AUDIT_CHAIN_LOCK_KEY)`` before reading the tail; the
  next appender's tail read runs after this transaction committed (read committed takes a new
  snapshot per statement), so it sees this event.
- SQLite: the store begins every writable transaction with ``BEGIN IMMEDIATE`` (see
  `daemon.store.engine`), so the transaction already holds the database's single write lock
  when the tail is read. `append_audit` refuses a session that does not (a read-only session,
  or one on an engine not made by `open_store`) rather than risk a failed append.

In both cases the primary key on ``seq`` is the last line of defence: two appenders that read
the same tail cannot both insert.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, text
from sqlalchemy.engine import Row
from sqlmodel import Session, col, select

from daemon.store.engine import AUDIT_HOOKS, may_append
from daemon.store.errors import StoreError
from daemon.store.models import AuditEvent
from daemon.store.types import utcnow

#: prev_hash of the first event.
GENESIS_HASH = "0" * 64
#: pg_advisory_xact_lock key serialising appenders ("WARDEN" in hex, then 2).
AUDIT_CHAIN_LOCK_KEY = 0x5741_5244_454E_0002
#: Events read per query by `verify_audit_chain`.
VERIFY_CHUNK_SIZE = 1000


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of `verify_audit_chain`.

    `checked` counts the events that passed, in seq order, before the first problem (all of
    them when `ok`). `first_bad_seq` is the seq of the first event found missing, edited or out
    of place, and `problem` says which in words. `last_hash` is the hash of the last good event
    (None for an empty trail), worth recording elsewhere to detect truncation later.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last_hash: str | None = None


def canonical_json(value: Any) -> str:
    """`value` as canonical JSON: sorted keys, no spaces, ASCII, datetimes as UTC ISO 8601.

    >>> from datetime import datetime, timezone, timedelta
    >>> paris = timezone(timedelta(hours=1))
    >>> canonical_json({"b": 1.5, "a": datetime(2025, 1, 31, 13, tzinfo=paris)})
    '{"a":"2025-01-31T12:00:00.000000Z","b":1.5}'
    """
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_json_default,
    )


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    payload: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The sha256 (hex) that an audit event with these fields must carry."""
    document = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("ascii")).hexdigest()


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    payload: Mapping[str, Any],
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction (it commits with it), then
    call the store's audit hooks (`Store.audit_hooks`) in that transaction too.

    `payload` must be JSON-serialisable (datetimes become UTC ISO 8601 strings; the stored
    payload is exactly what was hashed). `at` defaults to now; naive datetimes are UTC.
    """
    if not isinstance(payload, Mapping):
        raise TypeError(f"audit payload must be a mapping, not {type(payload).__name__}")
    fields = {
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
    }
    for name, value in fields.items():
        limit = AuditEvent.__table__.c[name].type.length  # type: ignore[attr-defined]
        if not value or len(value) > limit:
            raise ValueError(f"audit {name} must be 1 to {limit} characters, got {value!r}")
    stored_payload = json.loads(canonical_json(payload))
    stamp = _as_utc(at or utcnow())

    _lock_chain(session)
    tail = session.exec(
        select(AuditEvent.seq, AuditEvent.hash).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    seq, prev_hash = (tail.seq + 1, tail.hash) if tail else (1, GENESIS_HASH)
    event = AuditEvent(
        seq=seq,
        at=stamp,
        payload=stored_payload,
        prev_hash=prev_hash,
        hash=event_hash(seq=seq, at=stamp, payload=stored_payload, prev_hash=prev_hash, **fields),
        **fields,
    )
    session.add(event)
    session.flush()
    for hook in session.info.get(AUDIT_HOOKS, ()):
        hook(session, event)
    return event


def verify_audit_chain(
    session: Session, *, chunk_size: int = VERIFY_CHUNK_SIZE
) -> AuditVerification:
    """Check every event in seq order, `chunk_size` at a time (memory stays flat).

    Stops at the first problem. Use a read-only session on a live store
    (``store.session(readonly=True)``) so that appenders are not held up on SQLite.
    """
    checked = 0
    expected_seq = 1
    previous_hash = GENESIS_HASH
    first_bad_seq: int | None = None
    problem: str | None = None
    for row in _events_in_order(session, chunk_size):
        if row.seq != expected_seq:
            first_bad_seq, problem = expected_seq, _gap_problem(expected_seq, row.seq)
            break
        problem = _event_problem(row, previous_hash)
        if problem is not None:
            first_bad_seq = row.seq
            break
        checked += 1
        expected_seq += 1
        previous_hash = row.hash
    return AuditVerification(
        ok=problem is None,
        checked=checked,
        first_bad_seq=first_bad_seq,
        problem=problem,
        last_hash=previous_hash if checked else None,
    )


def _lock_chain(session: Session) -> None:
    connection = session.connection()
    if not may_append(connection):
        raise StoreError(
            "append_audit needs a writable session (on SQLite, one holding the write lock): "
            "open it with store.session(), not readonly=True, on a store made by open_store."
        )
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK_KEY}
        )


def _events_in_order(session: Session, chunk_size: int) -> Iterator[Row[Any]]:
    """Every event, in seq order, by keyset pagination (no OFFSET, no server cursor)."""
    columns = (
        AuditEvent.seq,
        AuditEvent.at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.entity_type,
        AuditEvent.entity_id,
        # As text, so that a payload edited into invalid JSON is reported, not raised.
        cast(AuditEvent.payload, Text).label("payload_text"),
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    after = 0
    while True:
        rows = session.exec(
            select(*columns)
            .where(col(AuditEvent.seq) > after)
            .order_by(col(AuditEvent.seq))
            .limit(chunk_size)
        ).all()
        yield from rows
        if len(rows) < chunk_size:
            return
        after = rows[-1].seq


def _event_problem(row: Row[Any], previous_hash: str) -> str | None:
    try:
        payload = json.loads(row.payload_text)
    except ValueError:
        return f"event {row.seq}: payload is not valid JSON (edited?)"
    recomputed = event_hash(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        payload=payload,
        prev_hash=row.prev_hash,
    )
    if recomputed != row.hash:
        return f"event {row.seq}: hash does not match its content (edited?)"
    if row.prev_hash != previous_hash:
        if row.seq == 1:
            return "event 1: prev_hash is not the genesis hash (inserted before the start?)"
        return (
            f"event {row.seq}: prev_hash does not match event {row.seq - 1} "
            "(reordered or inserted?)"
        )
    return None


def _gap_problem(expected_seq: int, found_seq: int) -> str:
    if expected_seq == 1:
        missing = "event 1 missing" if found_seq == 2 else f"events 1 to {found_seq - 1} missing"
        return f"{missing} (the trail starts at {found_seq})"
    missing = (
        f"event {expected_seq} missing"
        if found_seq == expected_seq + 1
        else f"events {expected_seq} to {found_seq - 1} missing"
    )
    return f"{missing} (gap between {expected_seq - 1} and {found_seq})"


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _as_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable: {value!r}")
