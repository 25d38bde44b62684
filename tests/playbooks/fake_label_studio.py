"""A small local fake of the Label Studio HTTP API, on 127.0.0.1, for the relabel tests
(and for the faults a real server cannot be made to produce: `tests/playbooks/
test_label_studio_server.py` runs the real one).

It serves what Warden uses, as Label Studio 1.23 does:
- `GET /api/projects/{id}/` (404 for a project not in `projects`, when that is set);
- `POST /api/projects/{id}/import` (a JSON list of tasks; 201 with `task_count`, or with
  `async_imports` `{"import": n}` whose status `GET /api/projects/{id}/imports/{n}/` gives);
- `GET /api/tasks?project=&page=&page_size=` (`{"tasks": [...], "total": n}`; 404 past the
  last page);
- `POST /api/token/refresh {"refresh": <personal token>}` -> `{"access": ...}`.
Requests need `Authorization: Token <token>` (401 "legacy token authentication has been
disabled" when `legacy_enabled` is off) or `Bearer <access>` for an access token it issued
(`expire_access` forgets them). `fail_imports` makes the next imports answer 500.
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

#: A personal access token as Label Studio makes them: a JWT (not a valid signature).
PERSONAL_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"


@dataclass
class FakeLabelStudio:
    token: str
    url: str = ""
    tasks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_imports: int = 0
    legacy_enabled: bool = True
    personal_token: str = PERSONAL_TOKEN
    projects: set[int] | None = None
    async_imports: bool = False
    issued: set[str] = field(default_factory=set)
    imports: dict[int, dict[str, Any]] = field(default_factory=dict)

    def expire_access(self) -> None:
        """Forget every access token issued (as when they expire after 5 minutes)."""
        self.issued.clear()


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
            given = self.headers.get("Authorization") or ""
            if given == f"Token {fake.token}":
                if fake.legacy_enabled:
                    return True
                self._answer(
                    401,
                    {
                        "detail": "Legacy token authentication has been disabled for this "
                        "organization"
                    },
                )
                return False
            if given.startswith("Bearer ") and given.removeprefix("Bearer ") in fake.issued:
                return True
            self._answer(401, {"detail": "Authentication credentials were not provided."})
            return False

        def do_POST(self) -> None:
            fake.requests.append(("POST", self.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if urlparse(self.path).path.rstrip("/") == "/api/token/refresh":
                if json.loads(body or b"{}").get("refresh") != fake.personal_token:
                    self._answer(401, {"detail": "Token is invalid or expired"})
                    return
                access = f"access-{len(fake.issued) + 1}-{len(fake.requests)}"
                fake.issued.add(access)
                self._answer(200, {"access": access})
                return
            if not self._authorised():
                return
            parts = urlparse(self.path).path.strip("/").split("/")
            if len(parts) != 4 or parts[:2] != ["api", "projects"] or parts[3] != "import":
                self._answer(404, {"detail": "Not found."})
                return
            if fake.projects is not None and int(parts[2]) not in fake.projects:
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
            if fake.async_imports:
                number = len(fake.imports) + 1
                fake.imports[number] = {
                    "id": number,
                    "status": "completed",
                    "task_count": len(tasks),
                }
                self._answer(201, {"import": number})
                return
            self._answer(201, {"task_count": len(tasks), "annotation_count": 0})

        def do_GET(self) -> None:
            fake.requests.append(("GET", self.path))
            if not self._authorised():
                return
            parsed = urlparse(self.path)
            parts = parsed.path.strip("/").split("/")
            if parts[:2] == ["api", "projects"] and len(parts) in (3, 5):
                project_id = int(parts[2])
                if fake.projects is not None and project_id not in fake.projects:
                    self._answer(404, {"detail": "Not found."})
                elif len(parts) == 3:
                    self._answer(200, {"id": project_id, "title": f"project {project_id}"})
                elif parts[3] == "imports" and int(parts[4]) in fake.imports:
                    self._answer(200, fake.imports[int(parts[4])])
                else:
                    self._answer(404, {"detail": "Not found."})
                return
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
