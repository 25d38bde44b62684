"""Daemon instances: each `warden run` registers itself, beats, and says when it stops.

A daemon's identity is `host:pid:token`. The random token tells two lives of one process
apart: a container restarted with the same hostname gets pid 1 again, and without the token
the new daemon could not tell the scans its predecessor left running from its own.

A claimant (the `claimed_by` of a scan or playbook run) is **gone** when:
- its row says it stopped (a clean shutdown, or another daemon presumed it dead), or
- its heartbeat is older than `daemon.instance_stale_after`, or
- it ran on this host, its last heartbeat came before this daemon started, and its pid is
  no longer running or is this very process's pid (the token differs, so it was an earlier
  life of this process): decided at once, without waiting for the heartbeat to age.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.identities import Claimant
from daemon.store.models import DaemonInstance
from daemon.store.types import utcnow


def _warden_version() -> str:
    try:
        return version("ml-warden")
    except PackageNotFoundError:
        return "unknown"


def register(store: Store, identity: str) -> None:
    """Record this daemon as started and alive."""
    claimant = Claimant.parse(identity)
    now = utcnow()
    with store.session() as session:
        session.add(
            DaemonInstance(
                identity=identity,
                host=claimant.host or socket.gethostname(),
                pid=claimant.pid if claimant.pid is not None else os.getpid(),
                version=_warden_version(),
                started_at=now,
                heartbeat_at=now,
            )
        )


def beat(store: Store, identity: str) -> bool:
    """Refresh the heartbeat; False when another daemon has presumed this one dead (the
    caller registers it again: `revive`)."""
    with store.session() as session:
        instance = session.get(DaemonInstance, identity)
        if instance is None or instance.stopped_at is not None:
            return False
        instance.heartbeat_at = utcnow()
        session.add(instance)
        return True


def revive(store: Store, identity: str) -> None:
    """Mark this daemon alive again after another presumed it dead (it was only paused).
    What was taken over meanwhile stays with its new claimant: this daemon's late results for
    those scans are dropped (`daemon.scan.runner.run_scan`)."""
    with store.session() as session:
        instance = session.get(DaemonInstance, identity)
        if instance is not None:
            instance.stopped_at, instance.stop_reason = None, None
            instance.heartbeat_at = utcnow()
            session.add(instance)
            return
    register(store, identity)


def mark_stopped(store: Store, identity: str, reason: str = "shutdown") -> None:
    with store.session() as session:
        session.execute(
            update(DaemonInstance)
            .where(col(DaemonInstance.identity) == identity)
            .values(stopped_at=utcnow(), stop_reason=reason)
        )


def presume_dead(
    session: Session, *, me: str, stale_after: timedelta, now: datetime | None = None
) -> list[str]:
    """Mark every other running instance that is silent or provably gone as stopped
    (`presumed_dead`, audited); returns their identities."""
    now = now or utcnow()
    mine = session.get(DaemonInstance, me)
    # The pid check is only trusted for a daemon whose last beat came before this one
    # started: replicas sharing a hostname (host networking) all run as pid 1, and a fresh
    # heartbeat is proof of life whatever the pid says.
    my_start = mine.started_at if mine is not None else now
    running = session.exec(
        select(DaemonInstance)
        .where(col(DaemonInstance.stopped_at).is_(None), DaemonInstance.identity != me)
        .with_for_update()
    ).all()
    found = []
    for instance in running:
        silent_for = now - instance.heartbeat_at
        claimant = Claimant.parse(instance.identity)
        gone_here = instance.heartbeat_at < my_start and claimant.died_here()
        if silent_for <= stale_after and not gone_here:
            continue
        instance.stopped_at, instance.stop_reason = now, "presumed_dead"
        session.add(instance)
        append_audit(
            session,
            actor=me,
            action="daemon.presumed_dead",
            entity_type="daemon",
            entity_id=instance.identity,
            payload={
                "last_heartbeat": instance.heartbeat_at.isoformat(),
                "silent_seconds": round(silent_for.total_seconds(), 1),
            },
        )
        found.append(instance.identity)
    return found


def forget_stopped(session: Session, *, before: datetime) -> None:
    """Delete the rows of daemons stopped before `before`, so the table stays small."""
    session.execute(
        delete(DaemonInstance).where(
            col(DaemonInstance.stopped_at).is_not(None), col(DaemonInstance.stopped_at) < before
        )
    )


def stopped_identities(session: Session) -> set[str]:
    """Identities of the daemons known to have stopped (cleanly or presumed dead)."""
    rows = session.exec(
        select(DaemonInstance.identity).where(col(DaemonInstance.stopped_at).is_not(None))
    ).all()
    return set(rows)


def live_instances(session: Session) -> list[DaemonInstance]:
    return list(
        session.exec(
            select(DaemonInstance)
            .where(col(DaemonInstance.stopped_at).is_(None))
            .order_by(col(DaemonInstance.started_at))
        ).all()
    )
