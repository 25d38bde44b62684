"""The append-only, hash-chained audit trail.

Each event's ``hash`` is the sha256 (hex) of the canonical JSON of the object
``{seq, at, actor, action, entity_type, entity_id, payload, prev_hash}``: keys sorted, no
whitespace, ASCII only, datetimes as ISO 8601 in UTC (``2025-01-31T12:00:00.000000Z``), NaN and
infinities refused. ``prev_hash`` is the previous event's hash (64 zeros for the first), and
``seq`` runs 1, 2, 3... without gaps. Editing, deleting, inserting or reordering an event
therefore breaks a check that `verify_audit_chain` reports. Removing events from the *end*
leaves a valid shorter chain: anchor `AuditVerification.last_hash` somewhere else (a log,
a ticket) when that matters, and check it later (`expect`, `warden audit verify --expect
SEQ:HASH`).

**Keyed chain.** Anyone who can write the store can recompute plain sha256 hashes and
rewrite the whole chain. With `WARDEN_AUDIT_KEY` set (a secret kept outside the store, in
the daemon's environment), each new event's hash is the HMAC-SHA256 of the same canonical
JSON under that key, the JSON also holding the key's id (`key_id`: the first 16 hex digits
of sha256 of ``warden-audit-key:`` and the key), which is stored on the event. Without the
key a keyed event cannot be forged; turning it back into a plain one changes its hash, and
`verify_audit_chain` refuses a plain event after a keyed one and checks `expect`. So: set
the key, export a checkpoint now and then (`audit verify --json` gives `last_seq` and
`last_hash`), and verify against it. Verifying keyed events needs the key.

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
import hmac
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, text
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Row
from sqlmodel import Session, col, select

from daemon.store.engine import AUDIT_HOOKS, may_append
from daemon.store.errors import StoreError
from daemon.store.models import AuditEvent
from daemon.store.types import utcnow
from detectors.work_labels import doing

#: prev_hash of the first event.
GENESIS_HASH = "0" * 64
#: pg_advisory_xact_lock key serialising appenders ("WARDEN" in hex, then 2).
AUDIT_CHAIN_LOCK_KEY = 0x5741_5244_454E_0002
#: Events read per query by `verify_audit_chain`.
VERIFY_CHUNK_SIZE = 1000
#: The environment variable holding the audit chain's HMAC key (never in the store).
AUDIT_KEY_VARIABLE = "WARDEN_AUDIT_KEY"


def audit_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The chain's HMAC key from the environment, or None (plain sha256)."""
    value = (os.environ if environ is None else environ).get(AUDIT_KEY_VARIABLE)
    return value.encode("utf-8") if value else None


def key_id(key: bytes) -> str:
    """The public id of `key` (16 hex digits), stored on each event it signs."""
    return hashlib.sha256(b"warden-audit-key:" + key).hexdigest()[:16]


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
    key: bytes | None = None,
) -> str:
    """The hash (hex) that an audit event with these fields must carry: sha256 of the
    canonical JSON, or with `key` its HMAC-SHA256, the JSON then also naming the key."""
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
    if key is None:
        return hashlib.sha256(canonical_json(document).encode("ascii")).hexdigest()
    document["key_id"] = key_id(key)
    return hmac.new(key, canonical_json(document).encode("ascii"), hashlib.sha256).hexdigest()


@doing("audit")  # the CPU profile's kind of work (detectors.work_labels)
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

    lock_audit_chain(session)
    tail = session.exec(
        select(AuditEvent.seq, AuditEvent.hash).order_by(col(AuditEvent.seq).desc()).limit(1)
    ).first()
    seq, prev_hash = (tail[0] + 1, tail[1]) if tail else (1, GENESIS_HASH)
    key = audit_key()
    event = AuditEvent(
        seq=seq,
        at=stamp,
        payload=stored_payload,
        prev_hash=prev_hash,
        hash=event_hash(
            seq=seq, at=stamp, payload=stored_payload, prev_hash=prev_hash, key=key, **fields
        ),
        key_id=key_id(key) if key else None,
        **fields,
    )
    session.add(event)
    session.flush()
    for hook in session.info.get(AUDIT_HOOKS, ()):
        hook(session, event)
    return event


def verify_audit_chain(
    session: Session,
    *,
    chunk_size: int = VERIFY_CHUNK_SIZE,
    key: bytes | None = None,
    expect: tuple[int, str] | None = None,
) -> AuditVerification:
    """Check every event in seq order, `chunk_size` at a time (memory stays flat).

    Keyed events are checked with `key` (the verifier must hold the key that signed them);
    a plain event after a keyed one is a problem (a downgrade by someone without the key).
    `expect` is a checkpoint (seq, hash) exported earlier: that event must still be there
    with that hash. Stops at the first problem. Use a read-only session on a live store
    (``store.session(readonly=True)``) so that appenders are not held up on SQLite.
    """
    checked = 0
    expected_seq = 1
    previous_hash = GENESIS_HASH
    first_bad_seq: int | None = None
    problem: str | None = None
    keyed_since: int | None = None
    for row in _events_in_order(session, chunk_size):
        if row.seq != expected_seq:
            first_bad_seq, problem = expected_seq, _gap_problem(expected_seq, row.seq)
            break
        problem = _key_problem(row, key, keyed_since) or _event_problem(row, previous_hash, key)
        if problem is None and expect is not None:
            problem = _checkpoint_problem(row, expect)
        if problem is not None:
            first_bad_seq = row.seq
            break
        if row.key_id and keyed_since is None:
            keyed_since = row.seq
        checked += 1
        expected_seq += 1
        previous_hash = row.hash
    if problem is None and expect is not None and expect[0] >= expected_seq:
        first_bad_seq = expect[0]
        problem = (
            f"event {expect[0]} of the checkpoint is missing: the trail ends at "
            f"{expected_seq - 1} (truncated?)"
        )
    return AuditVerification(
        ok=problem is None,
        checked=checked,
        first_bad_seq=first_bad_seq,
        problem=problem,
        last_hash=previous_hash if checked else None,
    )


def lock_audit_chain(session: Session) -> None:
    """Take the chain's lock now (held to the end of the transaction). Every audited change
    takes it at its first event; one that locks rows *before* its first event (the
    escalation job locks a group, then audits) takes it first, so all writers take locks in
    the same order and cannot deadlock on PostgreSQL."""
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
    columns: tuple[Any, ...] = (
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
        AuditEvent.key_id,
    )
    after = 0
    while True:
        # Core select: SQLModel's typed overloads stop at a handful of columns.
        query = (
            sa_select(*columns)
            .where(col(AuditEvent.seq) > after)
            .order_by(col(AuditEvent.seq))
            .limit(chunk_size)
        )
        rows = list(session.connection().execute(query).all())
        yield from rows
        if len(rows) < chunk_size:
            return
        after = rows[-1].seq


def _checkpoint_problem(row: Row[Any], expect: tuple[int, str]) -> str | None:
    seq, expected_hash = expect
    if row.seq != seq or row.hash == expected_hash:
        return None
    return (
        f"event {row.seq}: its hash is {row.hash}, not the checkpoint's {expected_hash} "
        "(the trail was rewritten)"
    )


def _key_problem(row: Row[Any], key: bytes | None, keyed_since: int | None) -> str | None:
    if row.key_id is None:
        if keyed_since is not None:
            return (
                f"event {row.seq}: not keyed, although the chain is keyed since event "
                f"{keyed_since} (rewritten without the key?)"
            )
        return None
    if key is None:
        return (
            f"event {row.seq}: signed with audit key {row.key_id}; set {AUDIT_KEY_VARIABLE} "
            "to that key to verify it"
        )
    if key_id(key) != row.key_id:
        return (
            f"event {row.seq}: signed with audit key {row.key_id}, not with the key given "
            f"({key_id(key)})"
        )
    return None


def _event_problem(row: Row[Any], previous_hash: str, key: bytes | None) -> str | None:
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
        key=key if row.key_id else None,
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
