"""The relabel playbook against a real Label Studio server: the batch is imported exactly
once into a project made through the API, read back as Label Studio stores it, and a retry
after a lost answer creates no duplicate tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playbooks.base import LabelStudioTarget
from playbooks.label_studio import LabelStudioError
from playbooks.label_studio_api import LabelStudioClient
from playbooks.relabel import RelabelParams
from tests.playbooks.real_label_studio import (
    LABEL_CONFIG,
    LabelStudioServer,
    LostAnswers,
    label_studio_executable,
    start_server,
)
from tests.playbooks.test_relabel import PLAYBOOK, _context, _incident, write_dataset

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    executable = label_studio_executable()
    yield from start_server(executable, tmp_path_factory.mktemp("label-studio"))


def _project(server: LabelStudioServer, title: str) -> int:
    client = LabelStudioClient(LabelStudioTarget(server.url, server.token, project=0))
    made = client.request(
        "POST", "/api/projects/", json_body={"title": title, "label_config": LABEL_CONFIG}
    )
    return int(made["id"])


def _tasks(server: LabelStudioServer, project: int) -> list[dict]:
    client = LabelStudioClient(LabelStudioTarget(server.url, server.token, project=project))
    answer = client.request(
        "GET", "/api/tasks", params={"project": project, "page": 1, "page_size": 100}
    )
    return answer["tasks"] if isinstance(answer, dict) else answer


def test_a_batch_is_imported_once_and_read_back(server, dataset: Path, tmp_path: Path):
    project = _project(server, "warden exactly once")
    studio = LabelStudioTarget(server.url, server.token, project=project)
    context = _context(tmp_path, dataset, studio=studio)
    plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=25), context)
    assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "imported"
    assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "already imported"
    tasks = _tasks(server, project)
    batch = plan.steps[1].details["batch"]
    assert len(tasks) == 25
    assert {task["data"]["warden_batch"] for task in tasks} == {batch}
    assert len({task["data"]["warden_row_id"] for task in tasks}) == 25
    assert PLAYBOOK.verify(plan, context).ok


def test_a_retry_after_a_lost_answer_creates_no_duplicates(server, dataset: Path, tmp_path: Path):
    project = _project(server, "warden lost answer")
    proxy = LostAnswers(server.url)
    try:
        studio = LabelStudioTarget(proxy.url, server.token, project=project, timeout_seconds=60)
        context = _context(tmp_path, dataset, studio=studio)
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=10), context)
        with pytest.raises(LabelStudioError, match="could not be reached"):
            PLAYBOOK.apply(plan, context)
        # The server made the tasks; the answer never came back.
        imports = [f for f in proxy.forwarded if f[0] == "POST" and f[1].endswith("/import")]
        assert imports and imports[0][2] == 201
        assert len(_tasks(server, project)) == 10
        assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "already imported"
        assert len(_tasks(server, project)) == 10
        assert len([f for f in proxy.forwarded if f[1].endswith("/import")]) == 1
    finally:
        proxy.close()


def test_a_missing_project_and_a_legacy_token_are_clear_errors(
    server, dataset: Path, tmp_path: Path
):
    missing = LabelStudioTarget(server.url, server.token, project=999_999)
    context = _context(tmp_path, dataset, studio=missing)
    plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=5), context)
    with pytest.raises(LabelStudioError, match="has no project 999999 \\(404\\)"):
        PLAYBOOK.apply(plan, context)
    # The user's own legacy token, refused as 1.23 refuses them by default.
    legacy = LabelStudioTarget(server.url, server.legacy_token, project=1)
    with pytest.raises(LabelStudioError, match="refuses legacy tokens for this organisation"):
        LabelStudioClient(legacy).check_project()
