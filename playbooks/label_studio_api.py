"""Label Studio's HTTP API, as the relabel playbook uses it: authentication, the project
check, imports (synchronous or not) and task listing.

Authentication. Label Studio 1.23 disables legacy `Token` authentication per organisation
by default (401 "legacy token authentication has been disabled"); its *personal access
tokens* are JWT refresh tokens: `POST /api/token/refresh {"refresh": <token>}` answers a
short-lived access token (about 5 minutes), sent as `Authorization: Bearer <access>`. A
token that looks like a JWT (`eyJ...`, three dot-separated parts) is used as a personal
access token unless `token_kind` says otherwise; an access token refused mid-run is
refreshed once.

Imports. `POST /api/projects/{id}/import` may answer the created count (`task_count`) or,
for imports Label Studio runs in the background, an import id (`{"import": n}`): its status
is then read from `GET /api/projects/{id}/imports/{n}/` until `completed` (its
`task_count`) or `failed` (its `error`), for at most the request timeout.
"""

from __future__ import annotations

import re
import time
from typing import Any

from playbooks.base import LabelStudioTarget

#: How a token that is a JWT looks: three base64url parts, the first a JSON header.
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
#: Seconds between two reads of a background import's status.
IMPORT_POLL_SECONDS = 0.5
_LEGACY_OFF = "legacy token authentication has been disabled"


class LabelStudioError(RuntimeError):
    """Label Studio refused or could not be reached; the message says which and why."""


def token_kind(target: LabelStudioTarget) -> str:
    """`personal` (a JWT refresh token) or `legacy`, as configured or as the token looks."""
    if target.token_kind != "auto":
        return target.token_kind
    return "personal" if _JWT.match(target.token) else "legacy"


class LabelStudioClient:
    """One project's API, with the token's authentication; not thread-safe."""

    def __init__(self, target: LabelStudioTarget) -> None:
        self.target = target
        self.kind = token_kind(target)
        self._access: str | None = None

    def check_project(self) -> dict[str, Any]:
        """The project, or a LabelStudioError naming it when it does not exist."""
        path = f"/api/projects/{self.target.project}/"
        answer = self.request("GET", path, missing_ok=True)
        if answer is None:
            raise LabelStudioError(
                f"Label Studio at {self.target.url} has no project {self.target.project} "
                "(404); check label_studio.project"
            )
        return answer if isinstance(answer, dict) else {}

    def import_tasks(self, tasks: list[dict[str, Any]]) -> int:
        """Create `tasks` in the project; how many Label Studio says it created."""
        project = self.target.project
        answer = self.request("POST", f"/api/projects/{project}/import", json_body=tasks)
        if isinstance(answer, dict) and "import" in answer and "task_count" not in answer:
            answer = self._wait_for_import(answer["import"])
        count = answer.get("task_count") if isinstance(answer, dict) else None
        return int(count) if isinstance(count, int) else len(tasks)

    def _wait_for_import(self, import_id: Any) -> dict[str, Any]:
        path = f"/api/projects/{self.target.project}/imports/{import_id}/"
        deadline = time.monotonic() + max(self.target.timeout_seconds, 1.0)
        while True:
            state = self.request("GET", path)
            status = state.get("status") if isinstance(state, dict) else None
            if status == "completed":
                return state  # type: ignore[no-any-return]
            if status == "failed":
                raise LabelStudioError(
                    f"Label Studio's import {import_id} into project {self.target.project} "
                    f"failed: {str(state.get('error') or 'no reason given')[:300]}"
                )
            if time.monotonic() > deadline:
                raise LabelStudioError(
                    f"Label Studio's import {import_id} was still {status!r} after "
                    f"{self.target.timeout_seconds:g} s; the next apply counts its tasks"
                )
            time.sleep(IMPORT_POLL_SECONDS)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """The JSON answer to one request (None for a 404 when `missing_ok`)."""
        response = self._send(method, path, json_body, params)
        if response.status_code == 401 and self.kind == "personal":
            self._access = None  # expired meanwhile: one fresh access token, one more try
            response = self._send(method, path, json_body, params)
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code == 401 and _LEGACY_OFF in response.text.lower():
            raise LabelStudioError(
                f"Label Studio at {self.target.url} refuses legacy tokens for this "
                "organisation: give a personal access token (Account & Settings -> Personal "
                "Access Token) as label_studio.token, or enable legacy tokens "
                "(Organization -> Access Token Settings)"
            )
        if response.status_code >= 400:
            raise LabelStudioError(
                f"Label Studio answered {response.status_code} to {method} {path}: "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise LabelStudioError(
                f"Label Studio's answer to {method} {path} is not JSON"
            ) from error

    def _send(self, method: str, path: str, json_body: Any, params: Any) -> Any:
        import httpx  # here: planning, which imports this module, never sends a request

        try:
            return httpx.request(
                method,
                self.target.url + path,
                json=json_body,
                params=params,
                headers={"Authorization": self._authorization()},
                timeout=self.target.timeout_seconds,
            )
        except httpx.HTTPError as error:
            raise LabelStudioError(
                f"Label Studio at {self.target.url} could not be reached: {error}"
            ) from error

    def _authorization(self) -> str:
        if self.kind == "legacy":
            return f"Token {self.target.token}"
        if self._access is None:
            self._access = self._refresh()
        return f"Bearer {self._access}"

    def _refresh(self) -> str:
        import httpx

        try:
            response = httpx.post(
                self.target.url + "/api/token/refresh",
                json={"refresh": self.target.token},
                timeout=self.target.timeout_seconds,
            )
        except httpx.HTTPError as error:
            raise LabelStudioError(
                f"Label Studio at {self.target.url} could not be reached: {error}"
            ) from error
        access = None
        if response.status_code == 200:
            try:
                access = response.json().get("access")
            except (ValueError, AttributeError):
                access = None
        if not isinstance(access, str) or not access:
            raise LabelStudioError(
                f"Label Studio refused the personal access token ({response.status_code}: "
                f"{response.text[:200]}); it may have been revoked: create a new one "
                "(Account & Settings -> Personal Access Token)"
            )
        return access
