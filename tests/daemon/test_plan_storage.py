"""A plan is stored as it will run: text from the data that a store cannot hold verbatim (NUL,
control characters) is made visible first, and the approved hash is the stored plan's."""

from __future__ import annotations

from pathlib import Path

from daemon.remediation.proposals import create_run
from daemon.store.models import PlaybookRun
from playbooks.base import Plan, PlanStep
from tests.daemon.test_executor import _setup, _the_run


def test_a_plan_with_control_characters_keeps_its_hash_when_stored(store, tmp_path: Path):
    _setup(store, tmp_path)  # an incident (and its own proposal, run 1)
    incident_id = _the_run(store).incident_id
    hostile = Plan(
        "quarantine",
        incident_id,
        {"max_files": 100},
        "move a file whose name came from the data",
        (PlanStep("move", "data/part\x00\x1f-0.parquet", {"to": "q/part\x00-0.parquet"}),),
    )
    with store.session() as session:
        run_id = create_run(session, incident_id, hostile, "human", actor="test").id
    with store.session(readonly=True) as session:
        stored = session.get(PlaybookRun, run_id)
        assert stored is not None
    plan = Plan.from_dict(stored.plan)
    assert "\x00" not in plan.steps[0].target and "\\u0000" in plan.steps[0].target
    assert plan.hash == stored.plan_hash  # what a person approves is what runs
