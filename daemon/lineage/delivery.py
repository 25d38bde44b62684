"""Sending queued OpenLineage events (`outbox`) to their destination, each exactly once.

`deliver_due` claims one due event at a time (a short transaction marks it `sending` with
a lease of `LEASE`; on PostgreSQL `SKIP LOCKED` keeps replicas apart), sends it outside
any transaction, and records the outcome only while its claim holds:

- **HTTP** (Marquez or any OpenLineage server): a 2xx answer is `sent`; 429 waits for
  `Retry-After`; a 5xx answer or no answer backs off exponentially (2, 4, 8... seconds, at
  most `MAX_BACKOFF`); any other 4xx is `failed` with the server's reason (sending the same
  event again would be refused again), as is a day of transient errors (`GIVE_UP_AFTER`).
  An event claimed again after a crash between the POST and its record is sent again: the
  same event (same run id, type and time), which OpenLineage consumers record once per run
  and state.
- **File**: one JSON line per event, flushed and synced. An event claimed again after a
  crash is first looked for in the file (by run id and type), and not appended twice.

Failures are logged and kept (`warden lineage events` lists them); nothing is dropped.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, true
from sqlmodel import col, select

from daemon.config.lineage import OpenLineageConfig
from daemon.crash_points import stop_if_asked
from daemon.retry_after import retry_after_seconds
from daemon.store.engine import Store
from daemon.store.lineage_models import LineageEvent
from daemon.store.types import utcnow

log = logging.getLogger(__name__)

#: How long a claimed event is reserved for its sender before another may take it over.
LEASE = timedelta(seconds=60)
#: Longest wait between two attempts after transient failures.
MAX_BACKOFF = timedelta(minutes=5)
#: How long an event is retried through transient errors before it is `failed`.
GIVE_UP_AFTER = timedelta(hours=24)
#: The most of a refusal's text kept with the event.
ERROR_CHARS = 500


@dataclass
class Delivered:
    """What one pass did: events sent, retried later, failed for good."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class _Transient(Exception):
    def __init__(self, reason: str, wait: timedelta | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class _Refused(Exception):
    pass


def deliver_due(
    store: Store, target: OpenLineageConfig, *, now: datetime | None = None, limit: int = 1000
) -> Delivered:
    """Send up to `limit` due events, oldest first."""
    done = Delivered()
    skip: set[int] = set()
    for _ in range(limit):
        claimed = _claim(store, now or utcnow(), skip)
        if claimed is None:
            break
        event_id, attempt = claimed
        skip.add(event_id)
        stop_if_asked("lineage.claimed")
        with store.session(readonly=True) as session:
            row = session.get(LineageEvent, event_id)
            assert row is not None
            payload, run_id, event_type = row.payload, row.run_id, row.event_type
            first_attempt_at = row.created_at
        try:
            _send(target, payload, run_id, event_type, retried=attempt > 1)
        except _Transient as error:
            given_up = (now or utcnow()) - first_attempt_at > GIVE_UP_AFTER
            wait = error.wait or min(MAX_BACKOFF, timedelta(seconds=2**attempt))
            _record(
                store, event_id, attempt, "failed" if given_up else "pending", str(error), wait=wait
            )
            done.failed += given_up
            done.retried += not given_up
            done.errors.append(str(error))
            log.warning(
                "OpenLineage event %s not delivered (attempt %d): %s", run_id, attempt, error
            )
            continue
        except _Refused as error:
            _record(store, event_id, attempt, "failed", str(error))
            done.failed += 1
            done.errors.append(str(error))
            log.error("OpenLineage event %s refused: %s", run_id, error)
            continue
        stop_if_asked("lineage.sent")
        _record(store, event_id, attempt, "sent", None)
        done.sent += 1
    return done


def _claim(store: Store, now: datetime, skip: set[int]) -> tuple[int, int] | None:
    with store.session() as session:
        query = (
            select(LineageEvent)
            .where(
                or_(
                    (col(LineageEvent.status) == "pending")
                    & (col(LineageEvent.next_attempt_at) <= now),
                    (col(LineageEvent.status) == "sending")
                    & (col(LineageEvent.claimed_until) < now),
                ),
                col(LineageEvent.id).not_in(skip) if skip else true(),
            )
            .order_by(col(LineageEvent.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = session.exec(query).first()
        if row is None:
            return None
        row.status, row.claimed_until = "sending", now + LEASE
        row.attempts += 1
        session.add(row)
        assert row.id is not None
        return row.id, row.attempts


def _record(
    store: Store,
    event_id: int,
    attempt: int,
    status: str,
    error: str | None,
    *,
    wait: timedelta | None = None,
) -> None:
    with store.session() as session:
        row = session.get(LineageEvent, event_id, with_for_update=True)
        if row is None or row.attempts != attempt or row.status != "sending":
            return  # taken over by another sender meanwhile: its outcome counts
        now = utcnow()
        row.status, row.claimed_until, row.last_error = status, None, error
        if status == "sent":
            row.sent_at = now
        if wait is not None:
            row.next_attempt_at = now + wait
        session.add(row)


def _send(
    target: OpenLineageConfig,
    payload: dict,  # type: ignore[type-arg]
    run_id: str,
    event_type: str,
    *,
    retried: bool,
) -> None:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if target.file is not None:
        _append(Path(target.file), body, run_id, event_type, retried=retried)
        return
    _post(target, body)


def _append(path: Path, body: str, run_id: str, event_type: str, *, retried: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if retried and _in_file(path, run_id, event_type):
            return  # appended before a crash kept it from being recorded
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise _Transient(f"cannot append to {path}: {error}") from error


def _in_file(path: Path, run_id: str, event_type: str) -> bool:
    if not path.exists():
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if run_id not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("run", {}).get("runId") == run_id and event.get("eventType") == event_type:
                return True
    return False


def _post(target: OpenLineageConfig, body: str) -> None:
    import httpx

    assert target.url is not None
    url = target.url.rstrip("/") + "/" + target.endpoint.lstrip("/")
    headers = {"Content-Type": "application/json"}
    if target.api_key_env:
        key = os.environ.get(target.api_key_env)
        if not key:
            raise _Transient(f"the environment variable {target.api_key_env} is not set")
        headers["Authorization"] = f"Bearer {key}"
    try:
        response = httpx.post(
            url, content=body.encode(), headers=headers, timeout=target.timeout.total_seconds()
        )
    except httpx.HTTPError as error:
        raise _Transient(f"no answer from {url}: {type(error).__name__}: {error}") from error
    if 200 <= response.status_code < 300:
        return
    reason = f"{url} answered {response.status_code}: {response.text[:ERROR_CHARS]}"
    if response.status_code == 429:
        seconds = retry_after_seconds(response.headers.get("Retry-After"))
        raise _Transient(reason, timedelta(seconds=seconds) if seconds is not None else None)
    if response.status_code >= 500:
        raise _Transient(reason)
    raise _Refused(reason)
