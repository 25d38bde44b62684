"""Creating labelling tasks in Label Studio through its HTTP API, exactly once.

Two endpoints are used, with `Authorization: Token <token>`:

- `POST /api/projects/{project}/import` with a JSON list of tasks (`{"data": ..., "meta":
  ...}`), which creates them in one request;
- `GET /api/tasks?project={project}&page=N&page_size=100`, to find tasks of a batch that
  a crashed run may already have imported (each task's `data.warden_batch`).

Exactly once: a receipt file next to the batch says `importing` (written durably before the
request) or `imported` (after the answer). A rerun finding `imported` does nothing; finding
`importing` (a crash during the request) counts the batch's tasks in the project first and
imports only if there are none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playbooks.base import LabelStudioTarget
from playbooks.files import write_durably

#: Tasks fetched per page when looking for a batch's tasks.
PAGE_SIZE = 100


class LabelStudioError(RuntimeError):
    """Label Studio refused or could not be reached; the message says which and why."""


def import_batch_once(
    target: LabelStudioTarget, tasks: list[dict[str, Any]], batch: str, receipt: Path
) -> str:
    """Import `tasks` (all tagged with `batch`) unless they are there; returns the outcome."""
    state = _read_receipt(receipt)
    if state.get("status") == "imported" and state.get("batch") == batch:
        return "already imported"
    if state.get("status") == "importing" and state.get("batch") == batch:
        found = count_batch_tasks(target, batch)
        if found == len(tasks):
            _write_receipt(receipt, batch, "imported", found, target)
            return "already imported"
        if found:
            raise LabelStudioError(
                f"project {target.project} holds {found} of the batch's {len(tasks)} tasks; "
                "check the project by hand before importing again"
            )
    _write_receipt(receipt, batch, "importing", 0, target)
    created = import_tasks(target, tasks)
    _write_receipt(receipt, batch, "imported", created, target)
    return "imported"


def import_tasks(target: LabelStudioTarget, tasks: list[dict[str, Any]]) -> int:
    """Create `tasks` in the project; returns how many Label Studio says it created."""
    answer = _request(target, "POST", f"/api/projects/{target.project}/import", json_body=tasks)
    count = answer.get("task_count") if isinstance(answer, dict) else None
    return int(count) if isinstance(count, int) else len(tasks)


def count_batch_tasks(target: LabelStudioTarget, batch: str) -> int:
    """How many of the project's tasks carry `data.warden_batch == batch`."""
    found, page = 0, 1
    while True:
        answer = _request(
            target,
            "GET",
            "/api/tasks",
            params={"project": target.project, "page": page, "page_size": PAGE_SIZE},
            missing_ok=True,
        )
        tasks = answer.get("tasks", []) if isinstance(answer, dict) else (answer or [])
        found += sum(1 for task in tasks if (task.get("data") or {}).get("warden_batch") == batch)
        if len(tasks) < PAGE_SIZE:
            return found
        page += 1


def _request(
    target: LabelStudioTarget,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    params: dict[str, Any] | None = None,
    missing_ok: bool = False,
) -> Any:
    import httpx  # here: planning, which imports this module, never sends a request

    url = target.url + path
    try:
        response = httpx.request(
            method,
            url,
            json=json_body,
            params=params,
            headers={"Authorization": f"Token {target.token}"},
            timeout=target.timeout_seconds,
        )
    except httpx.HTTPError as error:
        raise LabelStudioError(
            f"Label Studio at {target.url} could not be reached: {error}"
        ) from error
    if missing_ok and response.status_code == 404:  # a page past the last one
        return []
    if response.status_code >= 400:
        raise LabelStudioError(
            f"Label Studio answered {response.status_code} to {method} {path}: "
            f"{response.text[:300]}"
        )
    try:
        return response.json()
    except ValueError as error:
        raise LabelStudioError(f"Label Studio's answer to {method} {path} is not JSON") from error


def _read_receipt(receipt: Path) -> dict[str, Any]:
    try:
        return json.loads(receipt.read_text())
    except (OSError, ValueError):
        return {}


def _write_receipt(
    receipt: Path, batch: str, status: str, tasks: int, target: LabelStudioTarget
) -> None:
    document = {
        "batch": batch,
        "status": status,
        "tasks": tasks,
        "url": target.url,
        "project": target.project,
    }
    write_durably(receipt, json.dumps(document, indent=2, sort_keys=True) + "\n")
