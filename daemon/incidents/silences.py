"""Silences and maintenance windows.

A detection covered by one is still recorded (the incident opens or updates, the audit trail
says so) but nothing is routed or notified for it. Maintenance windows are written in the
config and planned ahead; silences are made at run time (`warden silences add`, Slack's
"Silence 24h") and live in the store. Both match on dataset, monitor and pattern (a field
left empty matches anything) over a half-open time range [start, end) of scan time, so a
replay with `--at` sees the silences that held at that moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from daemon.config.routing import MaintenanceWindow
from daemon.store.audit import append_audit
from daemon.store.models import Silence
from daemon.store.types import utcnow


class SilenceProblem(ValueError):
    """A silence that cannot be made or ended, explained for a person."""


def covering_silence(
    session: Session,
    *,
    at: datetime,
    monitor: str,
    dataset: str,
    pattern: str,
    maintenance: Sequence[MaintenanceWindow] = (),
) -> str | None:
    """`maintenance:NAME` or `silence:ID` of the first window or silence covering a detection
    of `pattern` on `dataset` by `monitor` at `at`, else None."""
    return first_cover(
        active_silences(session, at),
        maintenance,
        at=at,
        monitor=monitor,
        dataset=dataset,
        pattern=pattern,
    )


def active_silences(session: Session, at: datetime) -> list[Silence]:
    """The silences holding at `at` (not yet expired then), oldest first."""
    candidates = session.exec(
        select(Silence)
        .where(Silence.starts_at <= at, Silence.ends_at > at)
        .order_by(col(Silence.id))
    ).all()
    return [s for s in candidates if s.expired_at is None or s.expired_at > at]


def first_cover(
    silences: Sequence[Silence],
    maintenance: Sequence[MaintenanceWindow],
    *,
    at: datetime,
    monitor: str,
    dataset: str,
    pattern: str,
) -> str | None:
    """`covering_silence` over silences already read (`active_silences` at `at`): for a
    caller asking about many incidents at one moment with one query."""
    facts = {"monitor": monitor, "dataset": dataset, "pattern": pattern}
    for window in maintenance:
        if window.start <= at < window.end and all(
            getattr(window.match, key) is None or value in getattr(window.match, key)
            for key, value in facts.items()
        ):
            return f"maintenance:{window.name}"
    for silence in silences:
        if all(getattr(silence, key) in (None, value) for key, value in facts.items()):
            return f"silence:{silence.id}"
    return None


def add_silence(
    session: Session,
    *,
    created_by: str,
    reason: str,
    starts_at: datetime,
    ends_at: datetime,
    dataset: str | None = None,
    monitor: str | None = None,
    pattern: str | None = None,
) -> Silence:
    """Record a silence (audited in the same transaction)."""
    if ends_at <= starts_at:
        raise SilenceProblem("a silence must end after it starts")
    if not reason.strip():
        raise SilenceProblem("say why (--reason): the people reading the incident later will ask")
    silence = Silence(
        dataset=dataset,
        monitor=monitor,
        pattern=pattern,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        reason=reason,
    )
    session.add(silence)
    session.flush()
    append_audit(
        session,
        actor=created_by,
        action="silence.created",
        entity_type="silence",
        entity_id=str(silence.id),
        payload={
            "match": {"dataset": dataset, "monitor": monitor, "pattern": pattern},
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            "reason": reason,
        },
    )
    return silence


def expire_silence(
    session: Session, silence_id: int, *, actor: str, at: datetime | None = None
) -> Silence:
    """End a silence now (or at `at`); detections after that are routed again."""
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise SilenceProblem(f"there is no silence {silence_id}; see `warden silences list`")
    moment = at or utcnow()
    if silence.expired_at is not None or silence.ends_at <= moment:
        raise SilenceProblem(f"silence {silence_id} has already ended")
    silence.expired_at = moment
    session.add(silence)
    append_audit(
        session,
        actor=actor,
        action="silence.expired",
        entity_type="silence",
        entity_id=str(silence_id),
        payload={"at": moment.isoformat()},
    )
    return silence
