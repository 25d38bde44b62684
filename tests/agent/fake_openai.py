"""A scripted OpenAI-compatible server on 127.0.0.1 for the real `openai` client.

It serves `POST /v1/chat/completions` with the answers it is given, in order: a content
string (wrapped in a chat completion), an HTTP error status, or a hang (no answer for a
while, then a connection close). It records every request body so tests can check what the
model was told.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    content: str | None = None
    status: int = 200
    hang_seconds: float = 0.0


@dataclass
class FakeOpenAI:
    answers: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "no such route"}})
                    return
                answer = fake.answers.pop(0) if fake.answers else Answer(status=500)
                if answer.hang_seconds:
                    time.sleep(answer.hang_seconds)
                    self.close_connection = True
                    return
                if answer.status != 200:
                    self._send(
                        answer.status,
                        {"error": {"message": "scripted failure", "type": "server_error"}},
                    )
                    return
                self._send(200, _completion(body.get("model", "m"), answer.content or ""))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def prompts(self) -> list[str]:
        """The user message of each request, in order."""
        return [r["body"]["messages"][-1]["content"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def proposal(playbook: str | None = "quarantine", **overrides: Any) -> str:
    """A proposal's JSON text."""
    answer = {
        "action": "playbook" if playbook else "escalate",
        "playbook": playbook,
        "params": {},
        "rationale": "the null spike sits in one partition",
        "confidence": 0.8,
    }
    answer.update(overrides)
    return json.dumps(answer)
