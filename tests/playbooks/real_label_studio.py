"""A real Label Studio server (the `label-studio` package, SQLite default) for the tests.

`WARDEN_TEST_LABEL_STUDIO` names its `label-studio` executable, in a venv of its own
(`make label-studio` makes `.venv-label-studio`: Label Studio pins its own Django stack,
and 1.23.2 needs `sentry-sdk<3`). Without it the tests are skipped locally and fail in CI.

The server starts once per session on a free port with a fresh data folder (about 30-45 s
on 2 cores); its first user comes from LABEL_STUDIO_USERNAME/PASSWORD, and a personal
access token for it is made with Label Studio's own Django shell (`LSAPIToken.for_user`),
since 1.23 turns legacy tokens off. `LostAnswers` is a proxy in front of it that forwards
an import and then hangs up without answering (the lost answer a real server cannot be
made to give).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

VARIABLE = "WARDEN_TEST_LABEL_STUDIO"
START_SECONDS = 240  # a bound on the wait for /health, never a pace
EMAIL, PASSWORD = "warden@example.com", "warden-test-password"
LABEL_CONFIG = (
    '<View><Text name="text" value="$region"/>'
    '<Choices name="label" toName="text"><Choice value="ok"/><Choice value="bad"/></Choices>'
    "</View>"
)


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    token: str  # a personal access token (JWT refresh token)
    legacy_token: str  # the first user's legacy API token (refused by default in 1.23)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(executable: Path, data: Path) -> Iterator[LabelStudioServer]:
    import httpx

    port = _free_port()
    legacy = secrets.token_hex(20)
    environment = {key: value for key, value in os.environ.items() if key not in ("HOST", "PORT")}
    environment.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data),
            "LABEL_STUDIO_USERNAME": EMAIL,
            "LABEL_STUDIO_PASSWORD": PASSWORD,
            "LABEL_STUDIO_USER_TOKEN": legacy,
            "SECRET_KEY": secrets.token_hex(32),
            "SENTRY_DSN": "",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        }
    )
    log = (data / "server.log").open("w")
    process = subprocess.Popen(
        [str(executable), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"label-studio exited ({process.returncode}): "
                    + (data / "server.log").read_text()[-2000:]
                )
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"label-studio did not answer /health in {START_SECONDS} s")
            time.sleep(1)
        yield LabelStudioServer(url, _personal_token(executable, environment), legacy)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _personal_token(executable: Path, environment: dict[str, str]) -> str:
    python = executable.with_name("python")
    folder = subprocess.run(
        [
            str(python),
            "-c",
            "import label_studio, os; print(os.path.dirname(label_studio.__file__))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    script = (
        "from jwt_auth.models import LSAPIToken\n"
        "from users.models import User\n"
        f"print('TOKEN', LSAPIToken.for_user(User.objects.get(email={EMAIL!r})).get_full_jwt())\n"
    )
    done = subprocess.run(
        [str(python), "manage.py", "shell", "-c", script],
        cwd=folder,
        env={**environment, "DJANGO_SETTINGS_MODULE": "core.settings.label_studio"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("TOKEN ")]
    assert lines, done.stdout + done.stderr
    return lines[-1].split(" ", 1)[1]


def label_studio_executable() -> Path:
    given = os.environ.get(VARIABLE)
    if not given:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Label Studio tests: set {VARIABLE}", pytrace=False)
        pytest.skip(f"{VARIABLE} is not set (make label-studio makes one)")
    path = Path(given)
    if not path.exists():
        pytest.fail(f"{VARIABLE}={given} does not exist", pytrace=False)
    return path


class LostAnswers:
    """A proxy to `upstream` that forwards every request; the first `lose` imports are
    forwarded and then hung up on, with no answer."""

    def __init__(self, upstream: str, lose: int = 1) -> None:
        self.upstream = upstream
        self.lose = lose
        self.forwarded: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                import httpx

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() in ("authorization", "content-type")
                }
                answer = httpx.request(
                    self.command,
                    proxy.upstream + self.path,
                    content=body,
                    headers=headers,
                    timeout=60,
                )
                proxy.forwarded.append((self.command, self.path, answer.status_code))
                if self.command == "POST" and self.path.endswith("/import") and proxy.lose:
                    proxy.lose -= 1
                    self.close_connection = True  # the server did it; its answer is lost
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
