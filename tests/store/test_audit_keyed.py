"""A keyed audit chain cannot be rewritten by someone who can write the store but does not
hold the key, and a checkpoint exported earlier catches a rewrite of the whole chain."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from daemon.store.audit import AUDIT_KEY_VARIABLE, append_audit, event_hash, verify_audit_chain
from daemon.store.engine import Store
from daemon.store.models import AuditEvent

KEY = b"a secret kept outside the store"


def _append(store: Store, count: int) -> None:
    with store.session() as session:
        for n in range(count):
            append_audit(
                session,
                actor="alice",
                action="incident.acknowledged",
                entity_type="incident",
                entity_id=str(n),
                payload={"n": n},
            )


def _rewrite(store: Store, *, from_seq: int, key: bytes | None = None) -> None:
    """What the table's owner can do without the key: edit a payload and recompute every
    hash from `from_seq` on as plain sha256 (or as an HMAC under a key of their own)."""
    with store.session(readonly=True) as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    with store.connect() as connection:
        if store.backend == "postgresql":  # the owner may switch the append-only trigger off
            connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        previous = None
        for row in rows:
            if row.seq < from_seq:
                previous = row.hash
                continue
            payload = {**row.payload, "n": -1}  # the forged content
            fields = dict(actor=row.actor, action=row.action, entity_type=row.entity_type)
            prev_hash = previous or row.prev_hash
            forged = event_hash(
                seq=row.seq, at=row.at, entity_id=row.entity_id, payload=payload,
                prev_hash=prev_hash, key=key, **fields,
            )  # fmt: skip
            connection.execute(
                text("UPDATE audit_event SET payload = :p, hash = :h, prev_hash = :ph,"
                     " key_id = :k WHERE seq = :s"),
                {"p": json.dumps(payload), "h": forged, "ph": prev_hash,
                 "k": None if key is None else _key_id(key), "s": row.seq},
            )  # fmt: skip
            previous = forged
        if store.backend == "postgresql":
            connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        connection.commit()


def _key_id(key: bytes) -> str:
    from daemon.store.audit import key_id

    return key_id(key)


def _verify(store: Store, **options):  # type: ignore[no-untyped-def]
    with store.session(readonly=True) as session:
        return verify_audit_chain(session, **options)


def test_keyed_events_verify_only_with_their_key(store: Store, monkeypatch: pytest.MonkeyPatch):
    _append(store, 2)  # before the key: plain
    monkeypatch.setenv(AUDIT_KEY_VARIABLE, KEY.decode())
    _append(store, 3)
    assert _verify(store, key=KEY).ok and _verify(store, key=KEY).checked == 5
    without = _verify(store)
    assert not without.ok and without.first_bad_seq == 3
    assert AUDIT_KEY_VARIABLE in (without.problem or "")
    wrong = _verify(store, key=b"another key")
    assert not wrong.ok and "not with the key given" in (wrong.problem or "")


def test_a_rewrite_without_the_key_is_caught(store: Store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(AUDIT_KEY_VARIABLE, KEY.decode())
    _append(store, 6)
    checkpoint = _verify(store, key=KEY)
    assert checkpoint.ok and checkpoint.last_hash is not None
    # Forging keyed events under a key of one's own fails their check...
    _rewrite(store, from_seq=4, key=b"the attacker's key")
    assert "not with the key given" in (_verify(store, key=KEY).problem or "")
    # ...turning the tail back into plain events is refused after a keyed one...
    _rewrite(store, from_seq=4)
    tail = _verify(store, key=KEY)
    assert tail.first_bad_seq == 4 and "not keyed, although" in (tail.problem or "")
    # ...and a rewrite of the whole chain as plain events passes on its own (anyone can
    # compute sha256), but not against the checkpoint exported before it.
    _rewrite(store, from_seq=1)
    assert _verify(store, key=KEY).ok
    caught = _verify(store, key=KEY, expect=(6, checkpoint.last_hash))
    assert not caught.ok and "the trail was rewritten" in (caught.problem or "")


def test_a_checkpoint_past_the_end_reports_a_truncation(store: Store):
    _append(store, 2)
    found = _verify(store, expect=(5, "0" * 64))
    assert not found.ok and "truncated" in (found.problem or "")
