"""Creating labelling tasks in Label Studio through its HTTP API, exactly once.

Through `label_studio_api.LabelStudioClient` (personal access or legacy tokens):

- `GET /api/projects/{project}/`, so a project that does not exist is a clear error before
  anything is sent;
- `POST /api/projects/{project}/import` with a JSON list of tasks (`{"data": ..., "meta":
  ...}`), which creates them in one request (waiting for a background import to finish);
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
from playbooks.label_studio_api import LabelStudioClient, LabelStudioError

__all__ = ["LabelStudioError", "count_batch_tasks", "import_batch_once", "import_tasks"]

#: Tasks fetched per page when looking for a batch's tasks.
PAGE_SIZE = 100


def import_batch_once(
    target: LabelStudioTarget, tasks: list[dict[str, Any]], batch: str, receipt: Path
) -> str:
    """Import `tasks` (all tagged with `batch`) unless they are there; returns the outcome."""
    state = _read_receipt(receipt)
    if state.get("status") == "imported" and state.get("batch") == batch:
        return "already imported"
    client = LabelStudioClient(target)
    client.check_project()
    if state.get("status") == "importing" and state.get("batch") == batch:
        found = count_batch_tasks(target, batch, client)
        if found == len(tasks):
            _write_receipt(receipt, batch, "imported", found, target)
            return "already imported"
        if found:
            raise LabelStudioError(
                f"project {target.project} holds {found} of the batch's {len(tasks)} tasks; "
                "check the project by hand before importing again"
            )
    _write_receipt(receipt, batch, "importing", 0, target)
    created = import_tasks(target, tasks, client)
    _write_receipt(receipt, batch, "imported", created, target)
    return "imported"


def import_tasks(
    target: LabelStudioTarget,
    tasks: list[dict[str, Any]],
    client: LabelStudioClient | None = None,
) -> int:
    """Create `tasks` in the project; returns how many Label Studio says it created."""
    return (client or LabelStudioClient(target)).import_tasks(tasks)


def count_batch_tasks(
    target: LabelStudioTarget, batch: str, client: LabelStudioClient | None = None
) -> int:
    """How many of the project's tasks carry `data.warden_batch == batch`."""
    client = client or LabelStudioClient(target)
    found, seen, page = 0, 0, 1
    while True:
        answer = client.request(
            "GET",
            "/api/tasks",
            params={"project": target.project, "page": page, "page_size": PAGE_SIZE},
            missing_ok=True,  # a page past the last one
        )
        tasks = answer.get("tasks", []) if isinstance(answer, dict) else (answer or [])
        found += sum(1 for task in tasks if (task.get("data") or {}).get("warden_batch") == batch)
        seen += len(tasks)
        total = answer.get("total") if isinstance(answer, dict) else None
        if len(tasks) < PAGE_SIZE or (isinstance(total, int) and seen >= total):
            return found
        page += 1


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
