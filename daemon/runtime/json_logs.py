"""Structured logs: one JSON object per line, for log collectors (`warden run --log-format`).

Each line has `ts` (ISO 8601 UTC, milliseconds), `level`, `logger`, `message`, and, when the
call passed them with `extra=`, the ids a person filters by: `monitor`, `tick`, `incident_id`,
`run_id`, `scan_run_id`, `identity`, `reason`. An exception adds `exception` (the formatted
traceback). Values that JSON cannot hold are written as their `str()`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

#: `extra=` keys copied into each line when present.
CONTEXT_KEYS = ("monitor", "tick", "incident_id", "run_id", "scan_run_id", "identity", "reason")


class JsonFormatter(logging.Formatter):
    def __init__(self, identity: str | None = None) -> None:
        super().__init__()
        self.identity = identity

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.identity is not None:
            line["identity"] = self.identity
        for key in CONTEXT_KEYS:
            value = record.__dict__.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def use_json_logs(identity: str | None = None) -> None:
    """Switch every handler of the root logger to JSON lines."""
    formatter = JsonFormatter(identity)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    for handler in root.handlers:
        handler.setFormatter(formatter)
