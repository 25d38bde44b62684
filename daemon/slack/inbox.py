"""Receiving Slack interactions: durable on disk before the acknowledgement, then stored.

Slack wants an answer within 3 seconds, and a click must not be lost if Warden dies just
after answering. So `Inbox.receive` writes the payload to a spool folder (an fsynced file,
a few milliseconds, whatever the store is doing) and the caller acknowledges; `Inbox.ingest`,
on a worker thread, moves spooled files into the store's `slack_interaction` table and only
then deletes them. A crash between the two leaves the file, which the next `ingest` (after a
restart, too) stores; the table's unique `dedupe_key` turns a second copy into nothing.

Each file is handled on its own, oldest first, so one that cannot be stored never holds up
the clicks after it. Such a file is **set aside**: moved (never deleted) to
`<spool>/rejected/`, with a `slack.rejected` audit event naming it and why. Which files:

- unreadable, not JSON, not a spooled record, or not a well-formed Warden interaction;
- refused by the store while the store accepts writes. A failed write is told apart from a
  store that is away by its error: connection-level errors (`OperationalError`, pool
  timeouts, `OSError`: the server is down, SQLite is locked or read-only) leave the file and
  end the round; any other error is checked with a write probe (`daemon.slack.write_probe`):
  when a well-formed row can be written, the file is the problem and is set aside, else the
  store is, and the round ends with the file left in place.

The audit event is committed before the file moves, so a file leaves the spool only once its
event is recorded: while the store refuses that write too, the file stays and is set aside on
a later round, when the store accepts writes again (a crash between the commit and the move
records the event twice; a move that fails is logged and retried without a second event).

`problem` says what `/readyz` reports: the last round ended on a store write, or a spooled
file has waited more than `STALE_AFTER_SECONDS` (the processor is stuck or dead).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import select

from daemon.slack.interactions import Interaction, MalformedInteraction, parse
from daemon.slack.write_probe import describe, write_problem
from daemon.store.audit import append_audit
from daemon.store.engine import Store
from daemon.store.models import SlackInteraction
from daemon.store.types import utcnow
from playbooks.files import write_durably

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".json"
#: The folder, inside the spool, of the files that could not be stored.
REJECTED_FOLDER = "rejected"
#: The actor of `slack.rejected` audit events.
INBOX_ACTOR = "slack-inbox"
#: A spooled file older than this, in seconds, means the processor is not keeping up
#: (it runs every half second).
STALE_AFTER_SECONDS = 60.0
#: Errors that say the store is away or busy, not that the file is bad.
_STORE_AWAY = (OperationalError, DisconnectionError, PoolTimeout, OSError)
_MAX_REASON = 500


class StoreRefused(Exception):
    """The store refused a write that a well-formed file needed: the round stops."""


class Inbox:
    """A spool folder in front of the `slack_interaction` table."""

    def __init__(self, folder: Path, store: Store) -> None:
        self.folder = folder
        self.store = store
        #: Why the last round stopped on a store write (None: it did not).
        self.store_failure: str | None = None
        self._ingest_lock = threading.Lock()
        self._audited: set[str] = set()  # set aside, event recorded, move still to do

    def receive(self, payload: dict[str, Any], *, source: str) -> Interaction | None:
        """Spool `payload` durably if it is a Warden interaction; what it asks for.
        `MalformedInteraction` when it is Warden's kind but could not be stored."""
        interaction = parse(payload)
        if interaction is None:
            return None
        name = hashlib.sha256(interaction.key.encode()).hexdigest()[:32] + SPOOL_SUFFIX
        record = {"source": source, "received_at": utcnow().isoformat(), "payload": payload}
        try:
            text = json.dumps(record, sort_keys=True, allow_nan=False)
        except ValueError:  # NaN or an infinity, which PostgreSQL's JSONB refuses
            raise MalformedInteraction("the payload holds NaN or an infinite number") from None
        write_durably(self.folder / name, text)
        return interaction

    def ingest(self) -> int:
        """Store every spooled interaction not stored yet, setting aside those that cannot
        be; returns how many were new. Stops early while the store refuses writes."""
        if not self.folder.is_dir():
            return 0
        new = 0
        with self._ingest_lock:
            failure = None
            for path in sorted(self.folder.glob(f"*{SPOOL_SUFFIX}"), key=_mtime):
                try:
                    new += self._ingest_file(path)
                except StoreRefused as error:
                    failure = str(error)
                    log.warning("Slack interactions wait in %s: %s", self.folder, failure)
                    break
            self.store_failure = failure
        return new

    def problem(self) -> str | None:
        """Why the inbox is not keeping up (for `/readyz`), or None."""
        if self.store_failure is not None:
            return f"stopped on a store write: {self.store_failure}"
        now = time.time()
        ages = [now - _mtime(path) for path in self.folder.glob(f"*{SPOOL_SUFFIX}")]
        stale = [age for age in ages if STALE_AFTER_SECONDS < age < now]  # now: gone
        if stale:
            return (
                f"{len(stale)} spooled interaction(s) not stored for up to {max(stale):.0f} s "
                f"(more than {STALE_AFTER_SECONDS:.0f} s): the processor is stuck"
            )
        return None

    def _ingest_file(self, path: Path) -> int:
        try:
            record = _read(path)
            interaction = parse(record["payload"])
            if interaction is None:
                raise MalformedInteraction("not a Warden interaction")
        except FileNotFoundError:
            return 0  # stored by an earlier round that was cut short
        except (OSError, ValueError, KeyError) as error:  # MalformedInteraction too
            self._set_aside(path, f"not a well-formed interaction: {error}", None)
            return 0
        try:
            stored = self._store(record, interaction)
        except _STORE_AWAY as error:
            raise StoreRefused(describe(error)) from error
        except Exception as error:  # the write probe tells whose fault it is
            refused = write_problem(self.store)
            if refused is not None:
                raise StoreRefused(refused) from error
            self._set_aside(path, f"the store refused it: {describe(error)}", interaction)
            return 0
        path.unlink(missing_ok=True)
        return int(stored)

    def _store(self, record: dict[str, Any], interaction: Interaction) -> bool:
        with self.store.session() as session:
            if self._stored(session, interaction.key):
                return False  # a retried delivery of one already stored
            try:
                with session.begin_nested():
                    session.add(
                        SlackInteraction(
                            dedupe_key=interaction.key,
                            source=_source(record),
                            team_id=interaction.team_id,
                            user_id=interaction.user_id,
                            action=interaction.action,
                            payload=record["payload"],
                        )
                    )
            except IntegrityError:
                if self._stored(session, interaction.key):
                    return False  # another replica stored the same delivery a moment ago
                raise  # a constraint or trigger refused the row itself
        return True

    @staticmethod
    def _stored(session: Any, key: str) -> bool:
        query = select(SlackInteraction.id).where(SlackInteraction.dedupe_key == key)
        return session.exec(query).first() is not None

    def _set_aside(self, path: Path, reason: str, interaction: Interaction | None) -> None:
        """Audit, then move `path` to the rejected folder (see the module docstring)."""
        reason = "".join(c for c in reason if c.isprintable())[:_MAX_REASON]
        target = _free_name(self.folder / REJECTED_FOLDER, path.name)
        if path.name not in self._audited:
            payload: dict[str, Any] = {"file": f"{REJECTED_FOLDER}/{target.name}", "reason": reason}
            if interaction is not None:
                payload |= {"action": interaction.action, "user": interaction.user_id}
            try:
                with self.store.session() as session:
                    append_audit(
                        session,
                        actor=INBOX_ACTOR,
                        action="slack.rejected",
                        entity_type="slack_spool",
                        entity_id=path.name,
                        payload=payload,
                    )
            except Exception as error:  # any failure: keep the file, retry
                raise StoreRefused(f"auditing {path.name} failed: {describe(error)}") from error
            self._audited.add(path.name)
        try:
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
        except OSError as error:
            log.error("could not set aside spooled Slack interaction %s: %s", path, error)
            return
        self._audited.discard(path.name)
        log.error("set aside spooled Slack interaction %s as %s: %s", path.name, target, reason)


def _read(path: Path) -> dict[str, Any]:
    record = json.loads(path.read_text("utf-8"))
    if not isinstance(record, dict) or not isinstance(record.get("payload"), dict):
        raise ValueError("not a spooled record (an object with an object `payload`)")
    return record


def _source(record: dict[str, Any]) -> str:
    """How the file came (`http` or `socket`), as `receive` wrote it; `http` otherwise."""
    source = record.get("source")
    return source if source in ("http", "socket") else "http"


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/<stem>.<n>.json` when that is taken: never overwrite."""
    target, counter = folder / name, 1
    while target.exists():
        target = folder / f"{Path(name).stem}.{counter}{SPOOL_SUFFIX}"
        counter += 1
    return target


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
