"""Receiving Slack interactions: durable on disk before the acknowledgement, then stored.

Slack wants an answer within 3 seconds, and a click must not be lost if Warden dies just
after answering. So `Inbox.receive` writes the payload to a spool folder (an fsynced file,
a few milliseconds, whatever the store is doing) and the caller acknowledges; `Inbox.ingest`,
on a worker thread, moves spooled files into the store's `slack_interaction` table and only
then deletes them. A crash between the two leaves the file, which the next `ingest` (after a
restart, too) stores; the table's unique `dedupe_key` turns a second copy into nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from daemon.slack.interactions import Interaction, parse
from daemon.store.engine import Store
from daemon.store.models import SlackInteraction
from daemon.store.types import utcnow
from playbooks.files import write_durably

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".json"


class Inbox:
    """A spool folder in front of the `slack_interaction` table."""

    def __init__(self, folder: Path, store: Store) -> None:
        self.folder = folder
        self.store = store
        self._ingest_lock = threading.Lock()

    def receive(self, payload: dict[str, Any], *, source: str) -> Interaction | None:
        """Spool `payload` durably if it is a Warden interaction; what it asks for."""
        interaction = parse(payload)
        if interaction is None:
            return None
        name = hashlib.sha256(interaction.key.encode()).hexdigest()[:32] + SPOOL_SUFFIX
        record = {"source": source, "received_at": utcnow().isoformat(), "payload": payload}
        write_durably(self.folder / name, json.dumps(record, sort_keys=True))
        return interaction

    def ingest(self) -> int:
        """Store every spooled interaction not stored yet; returns how many were new."""
        if not self.folder.is_dir():
            return 0
        new = 0
        with self._ingest_lock:
            for path in sorted(self.folder.glob(f"*{SPOOL_SUFFIX}"), key=_mtime):
                try:
                    record = json.loads(path.read_text("utf-8"))
                except (OSError, ValueError) as error:
                    log.error("unreadable spooled Slack interaction %s: %s", path, error)
                    path.rename(path.with_suffix(".unreadable"))
                    continue
                if self._store(record):
                    new += 1
                path.unlink()
        return new

    def _store(self, record: dict[str, Any]) -> bool:
        payload = record["payload"]
        interaction = parse(payload)
        if interaction is None:
            return False
        with self.store.session() as session:
            if session.exec(
                select(SlackInteraction.id).where(SlackInteraction.dedupe_key == interaction.key)
            ).first():
                return False  # a retried delivery of one already stored
            try:
                with session.begin_nested():
                    session.add(
                        SlackInteraction(
                            dedupe_key=interaction.key,
                            source=record.get("source") or "http",
                            team_id=interaction.team_id,
                            user_id=interaction.user_id,
                            action=interaction.action,
                            payload=payload,
                        )
                    )
            except IntegrityError:
                return False  # another replica stored the same delivery a moment ago
        return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
