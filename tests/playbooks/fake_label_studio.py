"""A small local fake of the Label Studio HTTP API, on 127.0.0.1, for the relabel tests.

It serves the two endpoints Warden uses, as Label Studio does: `POST
/api/projects/{id}/import` (a JSON list of tasks; 201 with `task_count`) and `GET
/api/tasks?project=&page=&page_size=` (`{"tasks": [...], "total": n}`; 404 past the last
page). Requests without `Authorization: Token <token>` get 401. `fail_imports` makes the
next imports answer 500.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class FakeLabelStudio:
    token: str
    url: str = ""
    tasks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_imports: int = 0


@contextmanager
def running_fake(token: str = "ls-secret") -> Iterator[FakeLabelStudio]:
    fake = FakeLabelStudio(token)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Token {fake.token}":
                self._answer(401, {"detail": "Authentication credentials were not provided."})
                return False
            return True

        def do_POST(self) -> None:
            fake.requests.append(("POST", self.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if not self._authorised():
                return
            parts = urlparse(self.path).path.strip("/").split("/")
            if len(parts) != 4 or parts[:2] != ["api", "projects"] or parts[3] != "import":
                self._answer(404, {"detail": "Not found."})
                return
            if fake.fail_imports:
                fake.fail_imports -= 1
                self._answer(500, {"detail": "Internal server error"})
                return
            tasks = json.loads(body)
            project = fake.tasks.setdefault(int(parts[2]), [])
            for task in tasks:
                project.append({"id": len(project) + 1, **task})
            self._answer(201, {"task_count": len(tasks), "annotation_count": 0})

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            if not self._authorised():
                return
            parsed = urlparse(self.path)
            if parsed.path.rstrip("/") != "/api/tasks":
                self._answer(404, {"detail": "Not found."})
                return
            query = parse_qs(parsed.query)
            project = fake.tasks.get(int(query["project"][0]), [])
            page, size = int(query.get("page", ["1"])[0]), int(query.get("page_size", ["30"])[0])
            chunk = project[(page - 1) * size : page * size]
            if page > 1 and not chunk:
                self._answer(404, {"detail": "Invalid page."})
                return
            self._answer(200, {"tasks": chunk, "total": len(project)})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
