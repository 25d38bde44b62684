"""relabel_batch picks the rows its strategy promises, deterministically, and creates the
Label Studio tasks exactly once (against a local fake of Label Studio's HTTP API)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config.models import DatasetConfig
from daemon.scan.datasets import open_dataset
from playbooks.base import (
    DatasetLocation,
    IncidentView,
    LabelStudioTarget,
    PlanRefused,
    PlaybookContext,
)
from playbooks.files import sha256_of
from playbooks.label_studio import LabelStudioError
from playbooks.relabel import RelabelBatch, RelabelParams
from tests.playbooks.fake_label_studio import running_fake

DAY = datetime(2025, 3, 1, tzinfo=UTC)
PLAYBOOK = RelabelBatch()
ROWS = 1000
#: The current window's regions: ZZ is the injected new category.
CURRENT_REGIONS = {"A": 540, "B": 300, "C": 100, "ZZ": 60}


def _day_table(day: int, regions: dict[str, int], seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    labels = np.repeat(list(regions), list(regions.values()))
    rng.shuffle(labels)
    start = DAY + timedelta(days=day)
    return pa.table(
        {
            "ts": pa.array(
                [start + timedelta(seconds=86.4 * i) for i in range(ROWS)],
                pa.timestamp("us", "UTC"),
            ),
            "id": [f"d{day}-r{i:04d}" for i in range(ROWS)],
            "amount": rng.normal(100, 10, ROWS),
            "region": labels.tolist(),
            "score": rng.uniform(0, 1, ROWS),
        }
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path)


def write_dataset(tmp_path: Path) -> Path:
    """Two days of events under `tmp_path/data` (date=... folders): the relabel world."""
    folder = tmp_path / "data"
    for day, regions, seed in ((0, {"A": 600, "B": 300, "C": 100}, 1), (1, CURRENT_REGIONS, 2)):
        target = folder / f"date={(DAY + timedelta(days=day)).date()}" / "part-0.parquet"
        target.parent.mkdir(parents=True)
        pq.write_table(_day_table(day, regions, seed), target)
    return folder


def _context(
    tmp_path: Path, folder: Path, work: str = "warden", studio: LabelStudioTarget | None = None
) -> PlaybookContext:
    config = DatasetConfig(
        format="parquet", path=str(folder), time_column="ts", roles={"prediction": "score"}
    )
    return PlaybookContext(
        DatasetLocation("events", "parquet", str(folder), "ts", prediction_column="score"),
        tmp_path / work,
        open_source=partial(open_dataset, "events", config),
        label_studio=studio,
    )


def _incident(columns: tuple[str, ...] = ("region",)) -> IncidentView:
    def window(day: int) -> dict[str, str]:
        start = DAY + timedelta(days=day)
        return {
            "dataset": "events",
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
        }

    return IncidentView(
        11,
        "events",
        "category_emergence",
        columns=columns,
        windows={"current": window(1), "reference": window(0)},
    )


def _current_frame(folder: Path):  # the current day as pandas, for brute-force answers
    return pq.read_table(next(folder.glob("date=2025-03-02/*.parquet"))).to_pandas()


def _selected_ids(plan) -> list[str]:
    return plan.steps[0].details["row_ids"]


def test_drift_density_picks_only_rows_of_the_emerged_category(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    params = RelabelParams(strategy="drift_density", batch_size=50, id_column="id")
    plan = PLAYBOOK.plan(_incident(), params, context)
    current = _current_frame(dataset).set_index("id")
    chosen = _selected_ids(plan)
    assert len(chosen) == 50 and len(set(chosen)) == 50
    assert set(current.loc[chosen, "region"]) == {"ZZ"}
    # With a batch larger than the injected rows, the 60 ZZ rows come first.
    bigger = PLAYBOOK.plan(_incident(), params.model_copy(update={"batch_size": 80}), context)
    regions = list(current.loc[_selected_ids(bigger), "region"])
    assert regions[:60] == ["ZZ"] * 60 and "ZZ" not in regions[60:]


def test_uncertainty_picks_the_probabilities_closest_to_one_half(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    params = RelabelParams(strategy="uncertainty", batch_size=20, id_column="id")
    plan = PLAYBOOK.plan(_incident(), params, context)
    current = _current_frame(dataset)
    expected = current.assign(distance=(current["score"] - 0.5).abs()).nsmallest(20, "distance")
    assert _selected_ids(plan) == list(expected["id"])


def test_uncertainty_refuses_a_prediction_that_is_not_a_probability(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    location = DatasetLocation("events", "parquet", str(dataset), "ts", prediction_column="amount")
    context = PlaybookContext(location, context.work_root, open_source=context.open_source)
    with pytest.raises(PlanRefused, match=r"outside \[0, 1\]"):
        PLAYBOOK.plan(_incident(), RelabelParams(strategy="uncertainty"), context)


def test_stratified_allocates_the_batch_in_proportion(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    params = RelabelParams(
        strategy="stratified", batch_size=50, stratify_by="region", id_column="id"
    )
    plan = PLAYBOOK.plan(_incident(), params, context)
    current = _current_frame(dataset).set_index("id")
    counts = current.loc[_selected_ids(plan), "region"].value_counts().to_dict()
    assert counts == {"A": 27, "B": 15, "C": 5, "ZZ": 3}
    other_seed = PLAYBOOK.plan(_incident(), params.model_copy(update={"seed": 1}), context)
    assert set(_selected_ids(other_seed)) != set(_selected_ids(plan))


def test_same_incident_and_seed_give_byte_identical_outputs(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    params = RelabelParams(strategy="stratified", batch_size=40, seed=5)  # content-hash ids
    first = PLAYBOOK.plan(_incident(), params, context)
    PLAYBOOK.apply(first, context)
    folder = Path(first.steps[1].target).parent
    outputs = {name: (folder / name).read_bytes() for name in ("tasks.jsonl", "manifest.json")}
    shutil.move(folder, tmp_path / "first-run")
    again = PLAYBOOK.plan(_incident(), params, context)
    assert again.hash == first.hash
    PLAYBOOK.apply(again, context)
    for name, content in outputs.items():
        assert (folder / name).read_bytes() == content, name
    lines = (folder / "tasks.jsonl").read_text().splitlines()
    assert len(lines) == 40
    task = json.loads(lines[0])
    assert set(task) == {"data", "meta"}
    assert task["data"]["warden_batch"] == again.steps[1].details["batch"]
    assert task["meta"]["guideline_version"] == "v1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_ids"] == _selected_ids(again)
    assert manifest["tasks_sha256"] == sha256_of(folder / "tasks.jsonl")
    assert manifest["seed"] == 5 and manifest["strategy"] == "stratified"


def test_new_rows_in_the_window_change_the_plan_hash(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    params = RelabelParams(batch_size=30)
    before = PLAYBOOK.plan(_incident(), params, context)
    late = _day_table(1, {"ZZ": ROWS}, seed=9)
    pq.write_table(late, dataset / "date=2025-03-02" / "part-1.parquet")
    after = PLAYBOOK.plan(_incident(), params, context)
    assert after.hash != before.hash


def test_apply_refuses_when_planned_rows_are_gone(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=10, id_column="id"), context)
    replaced = _day_table(1, {"A": ROWS}, seed=3).set_column(
        1, "id", pa.array([f"other-{i}" for i in range(ROWS)])
    )
    pq.write_table(replaced, next(dataset.glob("date=2025-03-02/*.parquet")))
    with pytest.raises(RuntimeError, match="no longer in the window"):
        PLAYBOOK.apply(plan, context)


def test_max_window_rows_no_longer_bounds_the_plan(dataset: Path, tmp_path: Path):
    # Deprecated: still accepted so configs load, but the engine plans any window size.
    params = RelabelParams(max_window_rows=100, batch_size=10)
    plan = PLAYBOOK.plan(_incident(), params, _context(tmp_path, dataset))
    assert plan.steps[0].details["rows_in_window"] == ROWS
    assert len(_selected_ids(plan)) == 10


def test_verify_checks_the_written_batch_and_rollback_withdraws_it(dataset: Path, tmp_path: Path):
    context = _context(tmp_path, dataset)
    plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=10), context)
    PLAYBOOK.apply(plan, context)
    verified = PLAYBOOK.verify(plan, context)
    assert verified.ok and "10 labelling tasks" in verified.detail
    tasks = Path(plan.steps[1].target)
    tasks.write_text(tasks.read_text().replace("warden_batch", "warden_batcx", 1))
    assert not PLAYBOOK.verify(plan, context).ok
    PLAYBOOK.rollback(plan, context)
    manifest = json.loads(Path(plan.steps[2].target).read_text())
    assert manifest["status"] == "withdrawn" and tasks.exists()


def test_tasks_are_created_in_label_studio_exactly_once(dataset: Path, tmp_path: Path):
    with running_fake() as fake:
        studio = LabelStudioTarget(fake.url, fake.token, project=3)
        context = _context(tmp_path, dataset, studio=studio)
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=25), context)
        assert plan.steps[-1].action == "import_label_studio"
        log = PLAYBOOK.apply(plan, context)
        assert log[-1]["outcome"] == "imported"
        assert len(fake.tasks[3]) == 25
        batch = plan.steps[1].details["batch"]
        assert {task["data"]["warden_batch"] for task in fake.tasks[3]} == {batch}
        assert PLAYBOOK.verify(plan, context).ok

        # A rerun does nothing twice.
        assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "already imported"
        # A crash after the import but before its receipt: the tasks are found, not re-sent.
        receipt = Path(plan.steps[-1].details["receipt"])
        state = json.loads(receipt.read_text())
        receipt.write_text(json.dumps({**state, "status": "importing"}))
        posts = sum(1 for method, _ in fake.requests if method == "POST")
        assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "already imported"
        assert sum(1 for method, _ in fake.requests if method == "POST") == posts
        assert len(fake.tasks[3]) == 25


def test_a_failed_import_is_retried_by_the_next_apply(dataset: Path, tmp_path: Path):
    with running_fake() as fake:
        context = _context(tmp_path, dataset, studio=LabelStudioTarget(fake.url, fake.token, 4))
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=5), context)
        fake.fail_imports = 1
        with pytest.raises(LabelStudioError, match="answered 500"):
            PLAYBOOK.apply(plan, context)
        assert not PLAYBOOK.verify(plan, context).ok
        PLAYBOOK.apply(plan, context)
        assert len(fake.tasks[4]) == 5


def test_a_wrong_token_is_a_clear_error(dataset: Path, tmp_path: Path):
    with running_fake() as fake:
        studio = LabelStudioTarget(fake.url, "not-the-token", project=3)
        context = _context(tmp_path, dataset, studio=studio)
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=5), context)
        with pytest.raises(LabelStudioError, match="answered 401"):
            PLAYBOOK.apply(plan, context)
        assert fake.tasks == {}


def test_an_unreachable_label_studio_is_a_clear_error(dataset: Path, tmp_path: Path):
    studio = LabelStudioTarget("http://127.0.0.1:9", "t", project=1, timeout_seconds=2)
    context = _context(tmp_path, dataset, studio=studio)
    plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=5), context)
    with pytest.raises(LabelStudioError, match="could not be reached"):
        PLAYBOOK.apply(plan, context)


def test_a_personal_access_token_is_exchanged_and_refreshed_when_it_expires(
    dataset: Path, tmp_path: Path
):
    from tests.playbooks.fake_label_studio import PERSONAL_TOKEN

    with running_fake() as fake:
        fake.legacy_enabled = False  # Label Studio 1.23's default
        fake.async_imports = True
        studio = LabelStudioTarget(fake.url, PERSONAL_TOKEN, project=3)
        context = _context(tmp_path, dataset, studio=studio)
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=7), context)
        assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "imported"
        assert len(fake.tasks[3]) == 7
        refreshes = [path for method, path in fake.requests if path == "/api/token/refresh"]
        assert len(refreshes) == 1  # one access token for the whole apply
        assert any("/imports/1/" in path for _method, path in fake.requests)
        # An access token that expired between two runs is refreshed once, then used.
        fake.expire_access()
        receipt = Path(plan.steps[-1].details["receipt"])
        state = json.loads(receipt.read_text())
        receipt.write_text(json.dumps({**state, "status": "importing"}))
        assert PLAYBOOK.apply(plan, context)[-1]["outcome"] == "already imported"
        assert len(fake.tasks[3]) == 7


def test_legacy_tokens_turned_off_a_revoked_token_and_a_missing_project(
    dataset: Path, tmp_path: Path
):
    with running_fake() as fake:
        fake.legacy_enabled = False
        fake.projects = {3}
        legacy = _context(tmp_path, dataset, studio=LabelStudioTarget(fake.url, fake.token, 3))
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=5), legacy)
        with pytest.raises(LabelStudioError, match="refuses legacy tokens for this organisation"):
            PLAYBOOK.apply(plan, legacy)
        revoked = LabelStudioTarget(fake.url, "eyJx.eyJy.revoked", project=3)
        with pytest.raises(LabelStudioError, match="refused the personal access token"):
            PLAYBOOK.apply(plan, _context(tmp_path, dataset, studio=revoked))
        from tests.playbooks.fake_label_studio import PERSONAL_TOKEN

        missing = LabelStudioTarget(fake.url, PERSONAL_TOKEN, project=9)
        context = _context(tmp_path / "other", dataset, studio=missing)
        plan = PLAYBOOK.plan(_incident(), RelabelParams(batch_size=5), context)
        with pytest.raises(LabelStudioError, match="has no project 9 \\(404\\)"):
            PLAYBOOK.apply(plan, context)
        assert fake.tasks == {}
