"""A local stand-in for an OpenLineage server (Marquez's `POST /api/v1/lineage`), over real
HTTP: it keeps every request and answers from a script of status codes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Capture:
    def __init__(self, answers: list[int | tuple[int, dict[str, str]]] | None = None) -> None:
        #: Status codes to answer, in order (then 201 for ever); (code, headers) to add headers.
        self.answers = list(answers or [])
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(request["body"]) for request in self.requests]


@contextmanager
def capture_server(
    answers: list[int | tuple[int, dict[str, str]]] | None = None,
) -> Iterator[Capture]:
    capture = Capture(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            capture.requests.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": self.rfile.read(length).decode(),
                }
            )
            answer = capture.answers.pop(0) if capture.answers else 201
            code, headers = answer if isinstance(answer, tuple) else (answer, {})
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"refused": "for the test"}' if code >= 400 else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()
