"""A local fake of PagerDuty's Events API v2 (`POST /v2/enqueue`) over real HTTP.

It validates events as the API reference describes them (a 32-character routing key it
knows, `event_action`, `dedup_key` up to 255 characters and required on acknowledge and
resolve, a trigger's `payload.summary` up to 1,024 characters, `source`, a known
`severity`) and keeps alerts by dedup key with PagerDuty's rules: a trigger opens an
alert or adds to an open one's log, acknowledge and resolve apply to the open alert (and
are dropped once it is resolved), a trigger after a resolve opens a new alert. Answers:
202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`; 400 `{"status":
"invalid event", "message": ..., "errors": [...]}`; `fail_next(status, retry_after)`
injects 429 or 5xx answers, in which case the event is not taken. Change events
(`POST /v2/change/enqueue`, a `payload.summary` and the routing key) are kept in
`change_events` and page nobody.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTING_KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"  # 32 characters, as PagerDuty's
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class Alert:
    dedup_key: str
    status: str  # triggered | acknowledged | resolved
    summary: str
    severity: str
    log: list[str] = field(default_factory=list)


class FakePagerDuty:
    """Use as a context manager; `url` is the enqueue URL."""

    def __init__(self, routing_keys: tuple[str, ...] = (ROUTING_KEY,)) -> None:
        self.routing_keys = set(routing_keys)
        self.events: list[dict[str, Any]] = []  # every request, answered or not
        self.alerts: list[Alert] = []
        self.change_events: list[dict[str, Any]] = []  # payloads of /v2/change/enqueue
        self._faults: list[tuple[int, float | None]] = []
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakePagerDuty:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, headers = fake._answer(self.path, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/enqueue"

    def fail_next(self, status: int, retry_after: float | None = None, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([(status, retry_after)] * times)

    def wait_for_event(self, action: str, timeout: float = 120.0) -> None:
        """Block until a request with `event_action` == `action` arrived (TimeoutError)."""
        with self._lock:
            arrived = self._lock.wait_for(
                lambda: any(
                    isinstance(request["event"], dict)
                    and request["event"].get("event_action") == action
                    for request in self.events
                ),
                timeout,
            )
        if not arrived:
            raise TimeoutError(f"no {action} event reached the fake PagerDuty in {timeout} s")

    def open_alerts(self) -> list[Alert]:
        return [alert for alert in self.alerts if alert.status != "resolved"]

    def _answer(self, path: str, raw: bytes) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        with self._lock:
            try:
                event = json.loads(raw)
            except ValueError:
                event = None
            self.events.append({"path": path, "event": event})
            self._lock.notify_all()
            if self._faults:
                status, retry_after = self._faults.pop(0)
                headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
                return (
                    status,
                    {"status": "throttle event", "message": "Request Limit Exceeded"}
                    if status == 429
                    else {"status": "error", "message": "Internal error"},
                    headers,
                )
            if path == "/v2/change/enqueue":
                return self._change(event)
            if path != "/v2/enqueue":
                return 404, {"status": "not found", "message": "Not Found"}, []
            errors = self._errors(event)
            if errors:
                return (
                    400,
                    {
                        "status": "invalid event",
                        "message": "Event object is invalid",
                        "errors": errors,
                    },
                    [],
                )
            if event["routing_key"] not in self.routing_keys:
                return (
                    400,
                    {
                        "status": "invalid event",
                        "message": "Invalid routing key",
                        "errors": ["Invalid routing key"],
                    },
                    [],
                )
            key = event.get("dedup_key") or uuid.uuid4().hex
            self._apply(event, key)
            return 202, {"status": "success", "message": "Event processed", "dedup_key": key}, []

    def _change(self, event: Any) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """A change event (Events API v2, /v2/change/enqueue): kept, pages nobody."""
        payload = event.get("payload") if isinstance(event, dict) else None
        if not isinstance(payload, dict) or not payload.get("summary"):
            invalid = {"status": "invalid event", "message": "Event object is invalid"}
            return 400, {**invalid, "errors": ["'payload.summary' is missing"]}, []
        if event.get("routing_key") not in self.routing_keys:
            refused = {"status": "invalid event", "message": "Invalid routing key"}
            return 400, {**refused, "errors": ["Invalid routing key"]}, []
        self.change_events.append(payload)
        return 202, {"status": "success", "message": "Change event processed"}, []

    def _errors(self, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event must be a JSON object"]
        errors = []
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        dedup = event.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve events")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing or invalid")
            else:
                summary = payload.get("summary")
                if not isinstance(summary, str) or not summary or len(summary) > 1024:
                    errors.append("'payload.summary' must be 1 to 1024 characters")
                if not payload.get("source"):
                    errors.append("'payload.source' is missing")
                if payload.get("severity") not in SEVERITIES:
                    errors.append("'payload.severity' is invalid")
        return errors

    def _apply(self, event: dict[str, Any], key: str) -> None:
        action = event["event_action"]
        alert = next(
            (a for a in reversed(self.alerts) if a.dedup_key == key and a.status != "resolved"),
            None,
        )
        if action == "trigger":
            if alert is None:
                payload = event["payload"]
                self.alerts.append(
                    Alert(key, "triggered", payload["summary"], payload["severity"], ["trigger"])
                )
            else:
                alert.log.append("trigger (deduplicated)")
            return
        if alert is None:
            return  # dropped: nothing open under this key
        alert.log.append(action)
        alert.status = "acknowledged" if action == "acknowledge" else "resolved"
